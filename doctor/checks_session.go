package doctor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/ssmssh/ssmssh/protocol"
	"github.com/ssmssh/ssmssh/ssmclient"
)

// start starts a real session with the check's deadline.
func (r *run) start(ctx context.Context, doc string, params map[string][]string) (*ssmclient.Session, error) {
	if doc == ssmclient.DocumentSSH && len(params) == 0 {
		params = map[string][]string{"portNumber": {"22"}}
	}
	return r.opts.Client.StartSession(ctx, ssmclient.StartInput{
		Target: r.target.ID, DocumentName: doc, Parameters: params,
		Reason: "ssmssh doctor", Logf: r.opts.Logf,
	})
}

// checkSession starts a real session and waits for the handshake and,
// for a shell, for its first output.
func (r *run) checkSession() Result {
	doc := r.sessionDocument()
	ctx, cancel := context.WithTimeout(r.ctx, r.opts.StartTimeout)
	defer cancel()
	began := time.Now()
	name := r.opts.DocumentName // "" starts the account's shell
	sess, err := r.start(ctx, name, r.opts.Parameters)
	if err != nil {
		return r.startFailure(ctx, err, time.Since(began))
	}
	defer sess.Close()
	hs := sess.Handshake
	ev := fmt.Sprintf("session %s (%s) started in %v", sess.ID, doc, time.Since(began).Round(time.Millisecond))
	if hs != nil && !hs.Skipped {
		ev += ", agent " + hs.AgentVersion
	}
	if hs != nil && hs.Cipher != nil {
		ev += ", KMS-encrypted"
	}
	if hs != nil && hs.SessionType == protocol.SessionTypePort {
		return pass("%s", ev)
	}
	// A shell or command: it must say something.
	buf := make([]byte, 4096)
	_ = sess.SetReadDeadline(time.Now().Add(r.opts.ShellWait))
	n, rerr := sess.Read(buf)
	if n > 0 {
		return pass("%s, %d bytes of output within %v", ev, n, r.opts.ShellWait)
	}
	if f, ok := Diagnose(rerr, r.region); ok {
		return fail(ev+"; then "+f.Cause, f.Fix)
	}
	if rerr != nil && !errors.Is(rerr, os.ErrDeadlineExceeded) {
		return fail(fmt.Sprintf("%s; then it ended without output: %s", ev, awsSays(rerr)),
			"see the agent's log on the instance (/var/log/amazon/ssm/amazon-ssm-agent.log)")
	}
	return fail(fmt.Sprintf("%s, but the shell printed nothing in %v (0 bytes received)", ev, r.opts.ShellWait),
		"a blank screen: check the shell profile in the session preferences (a command waiting for input), press Enter or resize the terminal, and the instance's load (CPU, memory)")
}

// startFailure explains a session start that failed.
func (r *run) startFailure(ctx context.Context, err error, took time.Duration) Result {
	if f, ok := Diagnose(err, r.region); ok {
		fix := f.Fix
		var ended *ssmclient.SessionEndedError
		if errors.As(err, &ended) && strings.HasPrefix(strings.TrimSpace(ended.Output), "Handshake timed out") {
			if p, perr := r.loadPreferences(); perr == nil && p.KMSKeyID != "" && r.encrypts() {
				return fail(fmt.Sprintf("the instance cannot reach the KMS endpoint %s:443: the agent's handshake timed out after %v with KMS encryption on (%s)",
					KMSEndpoint(r.region), took.Round(time.Millisecond), oneLine(ended.Output)), KMSReachFix(r.region))
			}
			return fail("the agent's handshake timed out: "+oneLine(ended.Output),
				"retry with -v; a proxy between you and the ssmmessages endpoint may be holding websocket frames")
		}
		if f.Check == CheckIAM && strings.Contains(f.Cause, "GenerateDataKey") {
			fix = "add to the policy of " + r.who() + " a statement allowing kms:GenerateDataKey on the key of the session preferences"
		}
		return fail(f.Cause, fix)
	}
	if ctx.Err() != nil {
		return fail(fmt.Sprintf("no session within %v: %s", r.opts.StartTimeout, awsSays(err)),
			"retry; check the instance's load and its route to the ssmmessages endpoint")
	}
	ev, fix, _ := explained(err)
	return fail("the session did not start: "+ev, orDefault(fix, "see the agent's log on the instance (/var/log/amazon/ssm/amazon-ssm-agent.log)"))
}

// checkSSH reads the SSH server's banner through an AWS-StartSSHSession
// session and names the login user the AMI suggests.
func (r *run) checkSSH() Result {
	ctx, cancel := context.WithTimeout(r.ctx, r.opts.StartTimeout)
	defer cancel()
	params := r.opts.Parameters
	if r.sessionDocument() != ssmclient.DocumentSSH {
		params = nil
	}
	sess, err := r.start(ctx, ssmclient.DocumentSSH, params)
	if err != nil {
		res := r.startFailure(ctx, err, 0)
		return res
	}
	defer sess.Close()
	_ = sess.SetReadDeadline(time.Now().Add(r.opts.StartTimeout))
	line, err := bufio.NewReaderSize(sess, 512).ReadString('\n')
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "SSH-") {
		if f, ok := Diagnose(err, r.region); ok {
			return fail(f.Cause, f.Fix)
		}
		got := "nothing"
		if line != "" {
			got = fmt.Sprintf("%q", line)
		}
		return fail(fmt.Sprintf("port 22 of the instance answered %s, not an SSH banner", got),
			"check that sshd runs on the instance and listens on port 22 (systemctl status sshd)")
	}
	ev := "port 22 answers " + line
	if r.isEC2() {
		uctx, ucancel := r.apiCtx()
		defer ucancel()
		g := ssmclient.UserGuesser{API: r.opts.Client.EC2}
		if user, source, err := g.DefaultUser(uctx, r.target.ID); err == nil {
			ev += fmt.Sprintf("; log in as %s (%s)", user, source)
		}
		ev += "; " + r.instanceConnect()
	}
	return pass("%s", ev)
}

// instanceConnect says whether IAM lets the caller push a key with EC2
// Instance Connect (whether the AMI runs its agent, only a login shows).
func (r *run) instanceConnect() string {
	if r.principal == "" {
		return "EC2 Instance Connect: unknown (not an IAM user or role)"
	}
	ctx, cancel := r.apiCtx()
	defer cancel()
	const action = "ec2-instance-connect:SendSSHPublicKey"
	out, err := r.iam.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{
		PolicySourceArn: aws.String(r.principal), ActionNames: []string{action}, ResourceArns: []string{r.targetARN()},
	})
	if err != nil {
		return "EC2 Instance Connect: unknown (" + awsSays(err) + ")"
	}
	for _, e := range out.EvaluationResults {
		if e.EvalDecision != iamtypes.PolicyEvaluationDecisionTypeAllowed {
			return fmt.Sprintf("EC2 Instance Connect: %s is %s, so --instance-connect cannot push a key", action, e.EvalDecision)
		}
	}
	return "EC2 Instance Connect: IAM allows pushing a key (--instance-connect), if the AMI runs its agent"
}
