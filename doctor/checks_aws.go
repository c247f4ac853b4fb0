package doctor

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/ssmssh/ssmssh/protocol"
	"github.com/ssmssh/ssmssh/ssmclient"
)

// explained is err through ssmclient.Explain, with the hint when there
// is one: the evidence and the fix of a failed call.
func explained(err error) (evidence, fix string, code string) {
	err = ssmclient.Explain(err)
	var ce *ssmclient.Error
	if errors.As(err, &ce) {
		return awsSays(err), ce.Hint, ce.Code
	}
	return awsSays(err), "", ""
}

// awsSays is the error code and message of an AWS error, or the error.
func awsSays(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		if m := api.ErrorMessage(); m != "" {
			return api.ErrorCode() + ": " + oneLine(m)
		}
		return api.ErrorCode()
	}
	return oneLine(strings.TrimPrefix(err.Error(), "ssmclient: "))
}

func isAccessDenied(err error) bool {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return false
	}
	switch api.ErrorCode() {
	case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation":
		return true
	}
	return false
}

// checkCredentials: STS GetCallerIdentity answers for the credentials.
func (r *run) checkCredentials() Result {
	ctx, cancel := r.apiCtx()
	defer cancel()
	out, err := r.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		ev, fix, code := explained(err)
		switch code {
		case ssmclient.CodeExpiredToken:
			ev = "the credentials have expired (" + ev + ")"
		case ssmclient.CodeSSOLogin:
			ev = "the SSO session has expired or was never started (" + ev + ")"
		}
		if fix == "" {
			fix = "check the profile's credentials with `aws sts get-caller-identity`"
		}
		return fail(ev, fix)
	}
	r.callerARN, r.account = aws.ToString(out.Arn), aws.ToString(out.Account)
	r.principal = iamPrincipal(r.callerARN)
	via := ""
	if cr, err := r.opts.Client.Config.Credentials.Retrieve(ctx); err == nil && cr.Source != "" {
		via = ", credentials from " + cr.Source
		if cr.CanExpire {
			via += fmt.Sprintf(" expiring %s", cr.Expires.UTC().Format(time.RFC3339))
		}
	}
	return pass("%s (account %s, region %s%s)", r.callerARN, r.account, r.region, via)
}

// iamPrincipal is the IAM user or role behind a caller ARN ("" for
// identities IAM cannot simulate, such as the root user or federated
// users).
func iamPrincipal(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 {
		return ""
	}
	switch {
	case parts[2] == "iam" && (strings.HasPrefix(parts[5], "user/") || strings.HasPrefix(parts[5], "role/")):
		return arn
	case parts[2] == "sts" && strings.HasPrefix(parts[5], "assumed-role/"):
		role, _, _ := strings.Cut(strings.TrimPrefix(parts[5], "assumed-role/"), "/")
		return fmt.Sprintf("arn:%s:iam::%s:role/%s", parts[1], parts[4], role)
	}
	return ""
}

// checkTarget: the name resolves to exactly one target.
func (r *run) checkTarget() Result {
	ctx, cancel := r.apiCtx()
	defer cancel()
	res := ssmclient.Resolver{API: r.opts.Client.EC2, Suffix: ssmclient.DefaultHostSuffix}
	t, err := res.Resolve(ctx, r.opts.Target)
	var nf *ssmclient.TargetNotFoundError
	var amb *ssmclient.AmbiguousTargetError
	switch {
	case err == nil:
	case errors.As(err, &nf) && len(nf.NotRunning) == 1:
		// One instance of that name exists but is not running: the EC2
		// check says so.
		c := nf.NotRunning[0]
		t = ssmclient.Target{ID: c.InstanceID, Name: c.Name, Kind: ssmclient.KindInstance, InstanceID: c.InstanceID}
	case errors.As(err, &nf):
		ev := fmt.Sprintf("no running EC2 instance has Name tag, private DNS name or private IP %q", nf.Name)
		if len(nf.NotRunning) > 0 {
			ev += "; not running: " + joinCandidates(nf.NotRunning)
		}
		return fail(ev, "check the name, --region and --profile (`aws ec2 describe-instances --filters Name=tag:Name,Values="+nf.Name+"`), or use the instance id")
	case errors.As(err, &amb):
		more := ""
		if amb.More {
			more = ", ..."
		}
		return fail(fmt.Sprintf("%q matches %d running instances: %s%s", amb.Name, len(amb.Candidates), joinCandidates(amb.Candidates), more),
			"name one of them by its instance id")
	case isAccessDenied(err):
		ev, _, _ := explained(err)
		return fail("not allowed to look the name up: "+ev,
			"allow ec2:DescribeInstances to "+r.who()+", or use the instance id")
	default:
		ev, fix, _ := explained(err)
		return fail("looking the name up failed: "+ev, orDefault(fix, "retry, or use the instance id"))
	}
	r.target = t
	switch {
	case t.Name != "" && t.ID != r.opts.Target:
		return pass("%s → %s (Name %s)", r.opts.Target, t.ID, t.Name)
	case t.Kind == ssmclient.KindInstance && strings.HasPrefix(t.ID, "mi-"):
		return pass("%s (managed node id)", t.ID)
	default:
		return pass("%s (%s)", t.ID, t.Kind)
	}
}

func joinCandidates(cs []ssmclient.Candidate) string {
	parts := make([]string, 0, len(cs))
	for _, c := range cs {
		parts = append(parts, c.String())
	}
	return strings.Join(parts, ", ")
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// who names the caller for fixes.
func (r *run) who() string {
	switch {
	case r.principal != "":
		return r.principal
	case r.callerARN != "":
		return r.callerARN
	}
	return "your IAM identity"
}

func (r *run) isEC2() bool {
	return r.target.Kind == ssmclient.KindInstance && strings.HasPrefix(r.target.ID, "i-")
}

// checkEC2: the instance exists and runs.
func (r *run) checkEC2() Result {
	if !r.isEC2() {
		return skip("%s is not an EC2 instance", r.target.ID)
	}
	ctx, cancel := r.apiCtx()
	defer cancel()
	id := r.target.ID
	out, err := r.opts.Client.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	var api smithy.APIError
	switch {
	case errors.As(err, &api) && strings.HasPrefix(api.ErrorCode(), "InvalidInstanceID."):
		return fail(fmt.Sprintf("EC2 has no instance %s in %s (%s)", id, r.region, api.ErrorCode()),
			"check the instance id, --region and --profile")
	case isAccessDenied(err):
		return unknown("not allowed to call ec2:DescribeInstances", "ask an admin to allow ec2:DescribeInstances to "+r.who()+", or check the instance state in the console")
	case err != nil:
		ev, _, _ := explained(err)
		return unknown("DescribeInstances failed: "+ev, "retry")
	}
	for _, res := range out.Reservations {
		for _, in := range res.Instances {
			if aws.ToString(in.InstanceId) != id || in.State == nil {
				continue
			}
			state := string(in.State.Name)
			ev := fmt.Sprintf("%s is %s (%s, %s, %s)", id, state, in.InstanceType, aws.ToString(in.ImageId), aws.ToString(in.PlatformDetails))
			switch state {
			case "running":
				return pass("%s", ev)
			case "pending":
				return fail(ev, "wait until it runs and its agent has connected, then retry")
			case "shutting-down", "terminated":
				return fail(ev, "a terminated instance cannot come back: connect to another instance")
			default:
				return fail(ev, fmt.Sprintf("start it (`aws ec2 start-instances --instance-ids %s`), then retry", id))
			}
		}
	}
	return fail(fmt.Sprintf("EC2 has no instance %s in %s", id, r.region), "check the instance id, --region and --profile")
}

// checkManaged: SSM knows the instance's agent, it is online, and its
// version runs the documents to be used.
func (r *run) checkManaged() Result {
	id := r.target.InstanceID
	if r.target.Kind != ssmclient.KindInstance {
		return skip("%s is not an instance: its agent is managed by ECS", r.target.ID)
	}
	ctx, cancel := r.apiCtx()
	defer cancel()
	out, err := r.opts.Client.SSM.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{
		Filters: []ssmtypes.InstanceInformationStringFilter{{Key: aws.String("InstanceIds"), Values: []string{id}}},
	})
	switch {
	case isAccessDenied(err):
		return unknown("not allowed to call ssm:DescribeInstanceInformation",
			"ask an admin to allow ssm:DescribeInstanceInformation to "+r.who()+", or look the node up in Fleet Manager")
	case err != nil:
		ev, _, _ := explained(err)
		return unknown("DescribeInstanceInformation failed: "+ev, "retry")
	}
	var info *ssmtypes.InstanceInformation
	for i := range out.InstanceInformationList {
		if aws.ToString(out.InstanceInformationList[i].InstanceId) == id {
			info = &out.InstanceInformationList[i]
		}
	}
	const notManagedFix = "make it a managed node: the SSM agent must run on it, its instance profile must allow Session Manager (AmazonSSMManagedInstanceCore), and it needs a route to the ssm, ssmmessages and ec2messages endpoints of " + "its region"
	if info == nil {
		return fail(fmt.Sprintf("%s is not a managed node: DescribeInstanceInformation does not list it", id), notManagedFix)
	}
	r.platform, r.agent = string(info.PlatformType), aws.ToString(info.AgentVersion)
	last := "never"
	if info.LastPingDateTime != nil {
		last = info.LastPingDateTime.UTC().Format(time.RFC3339)
	}
	ev := fmt.Sprintf("ping %s, last ping %s, agent %s, %s %s %s", info.PingStatus, last, r.agent,
		info.PlatformType, aws.ToString(info.PlatformName), aws.ToString(info.PlatformVersion))
	if info.PingStatus != ssmtypes.PingStatusOnline {
		return fail(ev, "the agent has stopped reporting to SSM: check that amazon-ssm-agent runs on the instance (systemctl status amazon-ssm-agent), that its instance profile still allows Session Manager (AmazonSSMManagedInstanceCore), and that it reaches the ssm, ssmmessages and ec2messages endpoints")
	}
	for _, doc := range r.documents() {
		if min := MinAgentVersion(doc); min != "" && protocol.CompareVersions(r.agent, min) < 0 {
			return fail(fmt.Sprintf("%s; %s needs agent %s or later", ev, doc, min),
				fmt.Sprintf("update the agent (`aws ssm send-command --document-name AWS-UpdateSSMAgent --instance-ids %s`)", id))
		}
	}
	return pass("%s", ev)
}

// documents are the documents the checks start sessions with.
func (r *run) documents() []string {
	docs := []string{r.sessionDocument()}
	if r.opts.SSH && docs[0] != ssmclient.DocumentSSH {
		docs = append(docs, ssmclient.DocumentSSH)
	}
	return docs
}

// sessionDocument is the session start check's document.
func (r *run) sessionDocument() string {
	if r.opts.DocumentName == "" {
		return DocumentShell
	}
	return r.opts.DocumentName
}

// DocumentShell is the document of shell sessions started without one:
// it holds the account's session preferences.
const DocumentShell = "SSM-SessionManagerRunShell"

// MinAgentVersion is the oldest SSM agent that runs sessions of a
// document (SESSIONS.md section 1), or "" when any agent does.
func MinAgentVersion(document string) string {
	switch document {
	case ssmclient.DocumentSSH, ssmclient.DocumentPortForwarding:
		return "2.3.672.0"
	case ssmclient.DocumentPortForwardingRemote:
		return "3.1.1374.0"
	}
	return ""
}
