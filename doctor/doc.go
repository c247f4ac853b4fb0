// Package doctor names why a Session Manager session fails, as the AWS
// troubleshooting guide does (SESSIONS.md section 3), by asking AWS
// before connecting and by trying a real session.
//
// Run performs the checks in the order a session needs them:
//
//  1. credentials: STS GetCallerIdentity (expired credentials and SSO
//     sessions named as such);
//  2. target: the name resolves to one instance (unknown or ambiguous
//     names with the candidates);
//  3. EC2 state: running, stopped, terminated (managed nodes skip it);
//  4. managed by SSM: DescribeInstanceInformation's ping status, last
//     ping, agent version against the documents' minimum, platform;
//  5. IAM: iam:SimulatePrincipalPolicy of ssm:StartSession on the target
//     and the document, ssm:TerminateSession, and kms:GenerateDataKey on
//     the session key (a simulation the caller may not run is "?", with
//     what to ask an admin);
//  6. session preferences (SSM-SessionManagerRunShell): the KMS key
//     exists and is enabled (KMS DescribeKey), Run As has a user (the
//     preferences' or the principal's SSMSessionRunAs tag, IAM
//     ListUserTags / ListRoleTags), the idle timeout and max duration;
//  7. session start: StartSession and the handshake with a deadline, and
//     for a shell its first output; the agent's texts are explained
//     (a handshake timeout with KMS on: the instance cannot reach KMS; a
//     data key the instance may not decrypt: its role lacks kms:Decrypt;
//     a Run As user missing on the instance; a blank shell);
//  8. SSH (for SSH documents, or Options.SSH): port 22 answers with an SSH
//     banner through an AWS-StartSSHSession session, and the AMI's
//     default user.
//
// Each check gives ✓ (Pass), ✗ (Fail, with a one-sentence fix), ? (Unknown)
// or - (Skip); a check whose prerequisite failed is "?" without being
// tried, so one cause marks one check. Report.WriteText prints a line per
// check, Report.WriteJSON the same for machines.
//
// Diagnose and OneLine explain the same causes from an error alone, for
// the commands' failure lines, which end with "run `ssmssh doctor
// <target>` for details".
package doctor
