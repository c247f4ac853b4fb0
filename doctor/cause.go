package doctor

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/smithy-go"

	"github.com/ssmssh/ssmssh/ssmclient"
)

// Finding is a failure explained as the troubleshooting guide explains
// it (SESSIONS.md section 3): which check it belongs to, the cause in
// one line, and the fix in one sentence.
type Finding struct {
	Check string
	Cause string
	Fix   string
}

// Line is the finding on one line: "cause: fix".
func (f Finding) Line() string {
	if f.Fix == "" {
		return oneLine(f.Cause)
	}
	return oneLine(f.Cause + ": " + f.Fix)
}

// Suffix is what every command's failure line for a known cause ends
// with.
func Suffix(target string) string {
	if target == "" {
		target = "<target>"
	}
	return "run `ssmssh doctor " + target + "` for details"
}

// OneLine is the failure line a command prints for err when Diagnose
// knows its cause: "cause: fix; run `ssmssh doctor <target>` for
// details". It returns "" for other errors.
func OneLine(err error, region, target string) string {
	f, ok := Diagnose(err, region)
	if !ok {
		return ""
	}
	return f.Line() + "; " + Suffix(target)
}

// WithSuffix ends msg, a command's one-line message for err, with
// "; run `ssmssh doctor <target>` for details" when Diagnose knows err's
// cause, and returns msg as it is otherwise. Every command's failure line
// goes through it (ssmproxy, ssmssh, ssmsession), so that each sends the
// user to doctor for the same causes.
func WithSuffix(msg string, err error, target string) string {
	if _, ok := Diagnose(err, ""); !ok {
		return msg
	}
	return msg + "; " + Suffix(target)
}

// ExplainEnded is the text with which an agent or the service ended a
// session (SessionEndedError.Output) on one line, followed by Diagnose's
// cause and fix in parentheses when it knows the text; region names the
// KMS endpoint in fixes.
func ExplainEnded(output, region string) string {
	text := oneLine(output)
	if f, ok := diagnoseAgentText(output, region); ok {
		return text + " (" + f.Line() + ")"
	}
	return text
}

// KMSEndpoint is the KMS endpoint instances must reach for encrypted
// sessions.
func KMSEndpoint(region string) string {
	if region == "" {
		region = "<region>"
	}
	return "kms." + region + ".amazonaws.com"
}

// KMSReachFix is the remedy for an instance that cannot reach KMS.
func KMSReachFix(region string) string {
	host := KMSEndpoint(region)
	return fmt.Sprintf("give the instance a route to %s:443 or a KMS VPC endpoint (com.amazonaws.%s.kms), and test it on the instance with `timeout 5 bash -c '</dev/tcp/%s/443' && echo reachable`",
		host, strings.TrimPrefix(strings.TrimSuffix(host, ".amazonaws.com"), "kms."), host)
}

var (
	runAsMissingRe = regexp.MustCompile(`RunAs user (\S+) does not exist`)
	principalRe    = regexp.MustCompile(`User: (arn:\S+) is not authorized to perform: (\S+) on resource: (\S+)`)
)

// Diagnose recognises the failures the troubleshooting guide names in an
// error of ssmclient (StartSession, the handshake, a session ended by the
// agent, target resolution). region names the KMS endpoint in fixes.
func Diagnose(err error, region string) (Finding, bool) {
	if err == nil {
		return Finding{}, false
	}
	var nf *ssmclient.TargetNotFoundError
	var amb *ssmclient.AmbiguousTargetError
	var ended *ssmclient.SessionEndedError
	var old *ssmclient.AgentTooOldError
	switch {
	case errors.As(err, &nf):
		f := Finding{Check: CheckTarget, Cause: fmt.Sprintf("no running EC2 instance is named %q", nf.Name),
			Fix: "check the name, --region and --profile, or use the instance id"}
		if len(nf.NotRunning) > 0 {
			f.Cause += " (not running: " + joinCandidates(nf.NotRunning) + ")"
			f.Fix = "start the instance, then retry"
		}
		return f, true
	case errors.As(err, &amb):
		return Finding{Check: CheckTarget, Cause: fmt.Sprintf("%q matches %d running instances (%s)", amb.Name, len(amb.Candidates), joinCandidates(amb.Candidates)),
			Fix: "name one of them by its instance id"}, true
	case errors.As(err, &ended):
		return diagnoseAgentText(ended.Output, region)
	case errors.As(err, &old):
		// ssmclient.CheckAgent's refusal before a session the agent
		// would fail.
		return Finding{Check: CheckManaged, Cause: fmt.Sprintf("the SSM agent on %s is version %s; %s needs %s or later", old.Target, old.Version, old.Need.Feature, old.Need.Version),
			Fix: "update the agent (AWS-UpdateSSMAgent)"}, true
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "DisabledException", "KMSInvalidStateException":
			return Finding{Check: CheckPreferences, Cause: "the KMS key of the session preferences cannot be used (" + oneLine(api.ErrorMessage()) + ")",
				Fix: "enable it, or name an enabled key in the session preferences (" + DocumentShell + ")"}, true
		}
	}
	var ce *ssmclient.Error
	if !errors.As(ssmclient.Explain(err), &ce) {
		return Finding{}, false
	}
	f := Finding{Cause: ce.Hint}
	switch ce.Code {
	case ssmclient.CodeExpiredToken, ssmclient.CodeSSOLogin, ssmclient.CodeNoCredentials, ssmclient.CodeBadCredentials:
		f.Check = CheckCredentials
	case ssmclient.CodeInstanceNotFound, ssmclient.CodeInstanceNotRunning:
		f.Check = CheckEC2
	case ssmclient.CodeTargetNotConnected:
		f.Check = CheckManaged
	case ssmclient.CodeAccessDenied:
		switch {
		case strings.HasPrefix(ce.Op, "SSM StartSession"), strings.HasPrefix(ce.Op, "KMS"):
			f.Check = CheckIAM
		case strings.HasPrefix(ce.Op, "EC2 DescribeInstances"):
			f.Check = CheckTarget
		default:
			return Finding{}, false
		}
	case ssmclient.CodeKMSKeyNotFound:
		f.Check = CheckPreferences
	default:
		return Finding{}, false
	}
	return f, true
}

// diagnoseAgentText explains the text with which the agent (or the
// service) ended a session.
func diagnoseAgentText(out, region string) (Finding, bool) {
	text := oneLine(out)
	switch {
	case strings.Contains(text, "is not supported by this version of ssm agent"):
		return Finding{Check: CheckManaged, Cause: "the instance's SSM agent is too old for this kind of session (" + text + ")",
			Fix: "update the agent (AWS-UpdateSSMAgent)"}, true
	case strings.HasPrefix(text, "Handshake timed out"):
		return Finding{Check: CheckSession,
			Cause: "the agent timed out in the session handshake; with KMS encryption on in the session preferences this means the instance cannot reach the KMS endpoint " + KMSEndpoint(region) + ":443",
			Fix:   KMSReachFix(region)}, true
	case strings.Contains(text, "data key") && (strings.Contains(text, "AccessDenied") || strings.Contains(text, "not authorized")):
		return decryptDenied(text), true
	case strings.Contains(text, "KMSEncryption failed on client"):
		switch {
		case strings.Contains(text, "AccessDenied"):
			return Finding{Check: CheckIAM, Cause: "you may not use the KMS key of the session preferences (kms:GenerateDataKey denied)",
				Fix: "add a statement allowing kms:GenerateDataKey on the key to your IAM policy"}, true
		case strings.Contains(text, "NotFoundException"):
			return Finding{Check: CheckPreferences, Cause: "the KMS key of the session preferences does not exist (Invalid keyId)",
				Fix: "set kmsKeyId in the session preferences (" + DocumentShell + ") to an existing key ARN, or turn KMS encryption off"}, true
		case strings.Contains(text, "DisabledException"), strings.Contains(text, "KMSInvalidStateException"):
			return Finding{Check: CheckPreferences, Cause: "the KMS key of the session preferences is disabled or pending deletion",
				Fix: "enable it, or name an enabled key in the session preferences (" + DocumentShell + ")"}, true
		}
	case runAsMissingRe.MatchString(text):
		user := runAsMissingRe.FindStringSubmatch(text)[1]
		return Finding{Check: CheckSession, Cause: "the Run As user " + user + " does not exist on the instance",
			Fix: "create " + user + " on the instance, or set runAsDefaultUser (or the " + TagRunAs + " tag) to an OS user it has (ec2-user, ubuntu…), or turn Run As off"}, true
	case strings.Contains(text, "please set the RunAs default user"), strings.Contains(text, "Invalid RunAs username"):
		return Finding{Check: CheckPreferences, Cause: "Run As is on in the session preferences but no user is set",
			Fix: "set runAsDefaultUser in the session preferences or tag your IAM identity " + TagRunAs + "=<OS user>, or turn Run As off"}, true
	case strings.Contains(text, "must run as root to use RunAs"):
		return Finding{Check: CheckSession, Cause: "the instance's SSM agent does not run as root, which Run As needs",
			Fix: "run amazon-ssm-agent as root, or turn Run As off"}, true
	}
	return Finding{}, false
}

// decryptDenied explains an agent that may not decrypt the data key.
func decryptDenied(text string) Finding {
	who, key := "the instance profile's role", "the session key"
	if m := principalRe.FindStringSubmatch(text); m != nil {
		who, key = roleOf(m[1]), strings.TrimRight(m[3], ".,;")
	}
	return Finding{Check: CheckSession,
		Cause: fmt.Sprintf("the instance cannot decrypt the session's data key: %s lacks kms:Decrypt on %s", who, key),
		Fix:   fmt.Sprintf("add to %s a statement allowing kms:Decrypt on %s", who, key)}
}

// roleOf names the IAM role behind an assumed-role session ARN.
func roleOf(arn string) string {
	if p := iamPrincipal(arn); p != "" {
		return p
	}
	return arn
}
