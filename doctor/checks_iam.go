package doctor

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"

	"github.com/ssmssh/ssmssh/ssmclient"
)

// TagRunAs is the IAM principal tag naming the OS user of the
// principal's shell sessions when Run As is on.
const TagRunAs = "SSMSessionRunAs"

// preferences are the inputs of SSM-SessionManagerRunShell that sessions
// depend on.
type preferences struct {
	found              bool // the account has saved preferences
	KMSKeyID           string
	RunAsEnabled       bool
	RunAsDefaultUser   string
	IdleSessionTimeout string
	MaxSessionDuration string
}

// loadPreferences reads the session preferences once.
func (r *run) loadPreferences() (*preferences, error) {
	if r.prefsDone {
		return r.prefs, r.prefsErr
	}
	r.prefsDone = true
	ctx, cancel := r.apiCtx()
	defer cancel()
	out, err := r.opts.Client.SSM.GetDocument(ctx, &ssm.GetDocumentInput{Name: aws.String(DocumentShell)})
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() == "InvalidDocument" {
		r.prefs = &preferences{}
		return r.prefs, nil
	}
	if err != nil {
		r.prefsErr = err
		return nil, err
	}
	var doc struct {
		Inputs struct {
			KMSKeyID           string `json:"kmsKeyId"`
			RunAsEnabled       bool   `json:"runAsEnabled"`
			RunAsDefaultUser   string `json:"runAsDefaultUser"`
			IdleSessionTimeout string `json:"idleSessionTimeout"`
			MaxSessionDuration string `json:"maxSessionDuration"`
		} `json:"inputs"`
	}
	if err := json.Unmarshal([]byte(aws.ToString(out.Content)), &doc); err != nil {
		r.prefsErr = fmt.Errorf("doctor: %s is not JSON: %w", DocumentShell, err)
		return nil, r.prefsErr
	}
	in := doc.Inputs
	r.prefs = &preferences{found: true, KMSKeyID: in.KMSKeyID, RunAsEnabled: in.RunAsEnabled,
		RunAsDefaultUser: in.RunAsDefaultUser, IdleSessionTimeout: in.IdleSessionTimeout, MaxSessionDuration: in.MaxSessionDuration}
	return r.prefs, nil
}

// encrypts reports whether the session start check's document is
// encrypted when the preferences name a KMS key: the agent encrypts shell
// and command sessions, never Port sessions.
func (r *run) encrypts() bool {
	switch r.sessionDocument() {
	case ssmclient.DocumentSSH, ssmclient.DocumentPortForwarding, ssmclient.DocumentPortForwardingRemote:
		return false
	}
	return true
}

func (r *run) targetARN() string {
	if strings.HasPrefix(r.target.ID, "mi-") {
		return fmt.Sprintf("arn:aws:ssm:%s:%s:managed-instance/%s", r.region, r.account, r.target.ID)
	}
	if strings.HasPrefix(r.target.ID, "ecs:") {
		return fmt.Sprintf("arn:aws:ecs:%s:%s:task/*", r.region, r.account)
	}
	return fmt.Sprintf("arn:aws:ec2:%s:%s:instance/%s", r.region, r.account, r.target.ID)
}

func (r *run) documentARN(doc string) string {
	if strings.HasPrefix(doc, "AWS-") {
		return fmt.Sprintf("arn:aws:ssm:%s::document/%s", r.region, doc)
	}
	return fmt.Sprintf("arn:aws:ssm:%s:%s:document/%s", r.region, r.account, doc)
}

func (r *run) keyARN(key string) string {
	if strings.HasPrefix(key, "arn:") {
		return key
	}
	if strings.HasPrefix(key, "alias/") {
		return fmt.Sprintf("arn:aws:kms:%s:%s:%s", r.region, r.account, key)
	}
	return fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", r.region, r.account, key)
}

// checkIAM simulates the caller's policies for what a session needs.
func (r *run) checkIAM() Result {
	if r.principal == "" {
		return unknown(fmt.Sprintf("%s is not an IAM user or role: its policies cannot be simulated", r.who()),
			"ask an admin which policies apply to this identity")
	}
	type need struct{ action, resource string }
	var needs []need
	for _, doc := range r.documents() {
		needs = append(needs, need{"ssm:StartSession", r.targetARN()}, need{"ssm:StartSession", r.documentARN(doc)})
	}
	needs = append(needs, need{"ssm:TerminateSession", fmt.Sprintf("arn:aws:ssm:%s:%s:session/*", r.region, r.account)})
	if p, err := r.loadPreferences(); err == nil && p.KMSKeyID != "" && r.encrypts() {
		key := r.keyARN(p.KMSKeyID)
		if d, err := r.describeKey(p.KMSKeyID); err == nil && d.Arn != nil {
			key = aws.ToString(d.Arn)
		}
		needs = append(needs, need{"kms:GenerateDataKey", key})
	}
	var denied, checked []string
	for _, n := range needs {
		ctx, cancel := r.apiCtx()
		out, err := r.iam.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{
			PolicySourceArn: aws.String(r.principal), ActionNames: []string{n.action}, ResourceArns: []string{n.resource},
		})
		cancel()
		if err != nil {
			ev, _, _ := explained(err)
			var args []string
			for _, n := range needs {
				args = append(args, n.action+" on "+n.resource)
			}
			return unknown("cannot simulate the policies of "+r.principal+": "+ev,
				fmt.Sprintf("ask an admin to allow you iam:SimulatePrincipalPolicy, or to check that %s may %s", r.principal, strings.Join(args, ", ")))
		}
		for _, e := range out.EvaluationResults {
			if e.EvalDecision != iamtypes.PolicyEvaluationDecisionTypeAllowed {
				denied = append(denied, fmt.Sprintf("%s on %s: %s", n.action, n.resource, e.EvalDecision))
			}
		}
		checked = append(checked, n.action)
	}
	if len(denied) > 0 {
		return fail(r.principal+" may not "+strings.Join(denied, "; "),
			fmt.Sprintf("add to the policy of %s a statement allowing %s", r.principal, strings.Join(denied, "; ")))
	}
	return pass("%s may %s on %s", r.principal, strings.Join(dedupe(checked), ", "), r.target.ID)
}

func dedupe(s []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func (r *run) describeKey(key string) (*kmstypes.KeyMetadata, error) {
	ctx, cancel := r.apiCtx()
	defer cancel()
	out, err := r.opts.Client.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(key)})
	if err != nil {
		return nil, err
	}
	return out.KeyMetadata, nil
}

// checkPreferences reads the session preferences: the KMS key exists and
// is enabled, Run As has a user, the timeouts.
func (r *run) checkPreferences() Result {
	p, err := r.loadPreferences()
	if err != nil {
		ev, _, _ := explained(err)
		return unknown("cannot read "+DocumentShell+": "+ev, "ask an admin to allow you ssm:GetDocument on "+r.documentARN(DocumentShell))
	}
	if !p.found {
		return pass("no session preferences saved: the defaults apply (no KMS encryption, Run As off, idle timeout 20 min)")
	}
	var parts []string
	if p.KMSKeyID == "" {
		parts = append(parts, "KMS encryption off")
	} else {
		md, err := r.describeKey(p.KMSKeyID)
		var nf *kmstypes.NotFoundException
		switch {
		case errors.As(err, &nf):
			return fail(fmt.Sprintf("the KMS key %q of the session preferences does not exist (NotFoundException: %s)", p.KMSKeyID, aws.ToString(nf.Message)),
				fmt.Sprintf("set kmsKeyId in the session preferences (%s, `aws ssm update-document --name %s`) to the ARN of an existing key (`aws kms list-aliases`), or turn KMS encryption off", DocumentShell, DocumentShell))
		case isAccessDenied(err):
			parts = append(parts, fmt.Sprintf("KMS key %s (not allowed to describe it)", p.KMSKeyID))
		case err != nil:
			ev, _, _ := explained(err)
			return unknown("cannot describe the KMS key "+p.KMSKeyID+": "+ev, "retry")
		case md.KeyState != kmstypes.KeyStateEnabled:
			arn := aws.ToString(md.Arn)
			fix := fmt.Sprintf("enable it (`aws kms enable-key --key-id %s`) or name an enabled key in the session preferences (%s)", arn, DocumentShell)
			if md.KeyState == kmstypes.KeyStatePendingDeletion {
				fix = fmt.Sprintf("cancel its deletion (`aws kms cancel-key-deletion --key-id %s`, then enable it) or name another key in the session preferences (%s)", arn, DocumentShell)
			}
			return fail(fmt.Sprintf("the KMS key %s of the session preferences is %s", arn, md.KeyState), fix)
		default:
			parts = append(parts, fmt.Sprintf("KMS key %s enabled", aws.ToString(md.Arn)))
		}
	}
	if !p.RunAsEnabled {
		parts = append(parts, "Run As off (sessions run as ssm-user)")
	} else {
		tag, tagErr := r.runAsTag()
		user := p.RunAsDefaultUser
		from := "runAsDefaultUser"
		if tag != "" {
			user, from = tag, "the "+TagRunAs+" tag of "+r.principal
		}
		switch {
		case strings.TrimSpace(user) == "" && tagErr != nil:
			return unknown(fmt.Sprintf("Run As is on with a blank runAsDefaultUser, and the %s tag of %s cannot be read (%s)", TagRunAs, r.who(), awsSays(tagErr)),
				fmt.Sprintf("ask an admin whether %s has a %s tag, or set runAsDefaultUser in the session preferences", r.who(), TagRunAs))
		case strings.TrimSpace(user) == "":
			return fail(fmt.Sprintf("Run As is on but no user is set: runAsDefaultUser is blank and %s has no %s tag", r.who(), TagRunAs),
				fmt.Sprintf("set runAsDefaultUser in the session preferences (%s) or tag %s with %s=<an OS user of the instance, such as ec2-user or ubuntu>, or turn Run As off", DocumentShell, r.who(), TagRunAs))
		}
		parts = append(parts, fmt.Sprintf("Run As %s (from %s; the start shows whether it exists on the instance)", user, from))
	}
	idle := p.IdleSessionTimeout
	if idle == "" {
		idle = "20"
	}
	parts = append(parts, "idle timeout "+idle+" min")
	if p.MaxSessionDuration != "" {
		parts = append(parts, "max duration "+p.MaxSessionDuration+" min")
	} else {
		parts = append(parts, "no max duration")
	}
	return pass("%s", strings.Join(parts, ", "))
}

// runAsTag reads the caller's SSMSessionRunAs tag.
func (r *run) runAsTag() (string, error) {
	if r.principal == "" {
		return "", errors.New("not an IAM user or role")
	}
	res := r.principal[strings.Index(r.principal, ":user/")+1:]
	if i := strings.Index(r.principal, ":role/"); i >= 0 {
		res = r.principal[i+1:]
	}
	kind, path, _ := strings.Cut(res, "/")
	name := path[strings.LastIndex(path, "/")+1:]
	ctx, cancel := r.apiCtx()
	defer cancel()
	var tags []iamtypes.Tag
	if kind == "role" {
		out, err := r.iam.ListRoleTags(ctx, &iam.ListRoleTagsInput{RoleName: aws.String(name)})
		if err != nil {
			return "", err
		}
		tags = out.Tags
	} else {
		out, err := r.iam.ListUserTags(ctx, &iam.ListUserTagsInput{UserName: aws.String(name)})
		if err != nil {
			return "", err
		}
		tags = out.Tags
	}
	for _, t := range tags {
		if aws.ToString(t.Key) == TagRunAs {
			return aws.ToString(t.Value), nil
		}
	}
	return "", nil
}
