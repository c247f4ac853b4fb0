package ssmtest

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"
)

const (
	testUserARN = "arn:aws:iam::123456789012:user/ssmtest"
	testRoleARN = "arn:aws:iam::123456789012:role/ops/Admin"
)

func simulate(t *testing.T, c *iam.Client, source string, actions ...string) map[string]iamtypes.PolicyEvaluationDecisionType {
	t.Helper()
	out, err := c.SimulatePrincipalPolicy(t.Context(), &iam.SimulatePrincipalPolicyInput{
		PolicySourceArn: aws.String(source), ActionNames: actions, ResourceArns: []string{"arn:aws:ec2:us-east-1:123456789012:instance/" + InstanceDebian},
	})
	if err != nil {
		t.Fatalf("SimulatePrincipalPolicy(%s): %v", source, err)
	}
	got := map[string]iamtypes.PolicyEvaluationDecisionType{}
	for _, r := range out.EvaluationResults {
		got[aws.ToString(r.EvalActionName)] = r.EvalDecision
	}
	return got
}

// TestIAMSimulatePrincipalPolicy: the simulation reports the principal's
// denied actions and the fault set's denials as implicitDeny, the rest as
// allowed; unknown principals are NoSuchEntity and a caller without
// iam:SimulatePrincipalPolicy is refused.
func TestIAMSimulatePrincipalPolicy(t *testing.T) {
	s, cfg := startServer(t, Options{})
	if err := s.Fleet().SetPrincipal(Principal{ARN: testUserARN, DeniedActions: []string{"ssm:StartSession"}}); err != nil {
		t.Fatal(err)
	}
	c := iam.NewFromConfig(cfg)
	got := simulate(t, c, testUserARN, "ssm:StartSession", "ssm:TerminateSession", "kms:GenerateDataKey")
	if got["ssm:StartSession"] != iamtypes.PolicyEvaluationDecisionTypeImplicitDeny ||
		got["ssm:TerminateSession"] != iamtypes.PolicyEvaluationDecisionTypeAllowed ||
		got["kms:GenerateDataKey"] != iamtypes.PolicyEvaluationDecisionTypeAllowed {
		t.Errorf("decisions %v", got)
	}
	// The principal's denial is the API's too.
	_, err := ssm.NewFromConfig(cfg).StartSession(t.Context(), &ssm.StartSessionInput{Target: aws.String(InstanceDebian)})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "AccessDeniedException" || !strings.Contains(api.ErrorMessage(), testUserARN) {
		t.Errorf("StartSession: %v, want AccessDeniedException naming the user", err)
	}

	s.Faults().KMSDenyGenerateDataKey(true)
	s.Faults().APIAccessDenied("ssm:TerminateSession", true)
	got = simulate(t, c, testUserARN, "ssm:TerminateSession", "kms:GenerateDataKey")
	if got["ssm:TerminateSession"] != iamtypes.PolicyEvaluationDecisionTypeImplicitDeny ||
		got["kms:GenerateDataKey"] != iamtypes.PolicyEvaluationDecisionTypeImplicitDeny {
		t.Errorf("decisions with faults %v", got)
	}
	s.Faults().KMSDenyDecrypt(true)
	if got := simulate(t, c, s.instanceRoleARN(), "kms:Decrypt"); got["kms:Decrypt"] != iamtypes.PolicyEvaluationDecisionTypeImplicitDeny {
		t.Errorf("instance role kms:Decrypt %v", got)
	}

	_, err = c.SimulatePrincipalPolicy(t.Context(), &iam.SimulatePrincipalPolicyInput{
		PolicySourceArn: aws.String("arn:aws:iam::123456789012:user/nobody"), ActionNames: []string{"ssm:StartSession"}})
	var nse *iamtypes.NoSuchEntityException
	if !errors.As(err, &nse) || aws.ToString(nse.Message) != "The user with name nobody cannot be found." {
		t.Errorf("unknown user: %v, want NoSuchEntity", err)
	}

	s.Faults().APIAccessDenied("iam:SimulatePrincipalPolicy", true)
	_, err = c.SimulatePrincipalPolicy(t.Context(), &iam.SimulatePrincipalPolicyInput{
		PolicySourceArn: aws.String(testUserARN), ActionNames: []string{"ssm:StartSession"}})
	if !errors.As(err, &api) || api.ErrorCode() != "AccessDenied" ||
		!strings.Contains(api.ErrorMessage(), "iam:SimulatePrincipalPolicy") {
		t.Errorf("denied simulation: %v, want AccessDenied", err)
	}
}

// TestIAMListTags: user and role tags in AWS's shape, the implicit
// principals without tags, unknown names NoSuchEntity; the caller's
// SSMSessionRunAs tag becomes the sessions' Run As user.
func TestIAMListTags(t *testing.T) {
	fleet, err := ParseFleet([]byte(`{"Instances":[{"InstanceId":"i-0123456789abcdef0","Users":["ubuntu"]}],
		"Principals":[{"Arn":"` + testUserARN + `","Tags":{"SSMSessionRunAs":"ubuntu","team":"ops"}},
		{"Arn":"` + testRoleARN + `","Tags":{"SSMSessionRunAs":"admin"},"DeniedActions":["kms:*"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	s, cfg := startServer(t, Options{Fleet: fleet, RunAsEnabled: true, RunAsDefaultUser: "ec2-user"})
	c := iam.NewFromConfig(cfg)
	ut, err := c.ListUserTags(t.Context(), &iam.ListUserTagsInput{UserName: aws.String("ssmtest")})
	if err != nil || len(ut.Tags) != 2 || aws.ToString(ut.Tags[0].Key) != TagRunAs || aws.ToString(ut.Tags[0].Value) != "ubuntu" {
		t.Errorf("ListUserTags = %+v, %v", ut, err)
	}
	rt, err := c.ListRoleTags(t.Context(), &iam.ListRoleTagsInput{RoleName: aws.String("Admin")})
	if err != nil || len(rt.Tags) != 1 || aws.ToString(rt.Tags[0].Value) != "admin" {
		t.Errorf("ListRoleTags = %+v, %v", rt, err)
	}
	if rt, err := c.ListRoleTags(t.Context(), &iam.ListRoleTagsInput{RoleName: aws.String(InstanceRoleName)}); err != nil || len(rt.Tags) != 0 {
		t.Errorf("instance role tags = %+v, %v", rt, err)
	}
	var nse *iamtypes.NoSuchEntityException
	if _, err := c.ListRoleTags(t.Context(), &iam.ListRoleTagsInput{RoleName: aws.String("Nope")}); !errors.As(err, &nse) {
		t.Errorf("unknown role: %v, want NoSuchEntity", err)
	}
	if got := simulate(t, c, testRoleARN, "kms:Decrypt"); got["kms:Decrypt"] != iamtypes.PolicyEvaluationDecisionTypeImplicitDeny {
		t.Errorf("kms:* denial: %v", got)
	}

	out, err := ssm.NewFromConfig(cfg).StartSession(t.Context(), &ssm.StartSessionInput{Target: aws.String("i-0123456789abcdef0")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Sessions().Terminate(aws.ToString(out.SessionId), ReasonTerminated)
	if sess, _ := s.Sessions().Get(aws.ToString(out.SessionId)); sess.RunAsUser != "ubuntu" {
		t.Errorf("session RunAsUser %q, want the SSMSessionRunAs tag's ubuntu", sess.RunAsUser)
	}

	if _, err := ParseFleet([]byte(`{"Instances":[],"Principals":[{"Arn":"arn:aws:s3:::bucket"}]}`)); err == nil {
		t.Error("a principal that is not an IAM ARN was accepted")
	}
}

// TestKMSKeyStates: a disabled key or one pending deletion is described
// as such and refuses to generate data keys, as KMS does.
func TestKMSKeyStates(t *testing.T) {
	s, cfg := startServer(t, Options{})
	c := kms.NewFromConfig(cfg)
	keyARN := "arn:aws:kms:us-east-1:123456789012:key/" + DefaultKMSKeyID
	for _, st := range []struct {
		state, code, msg string
	}{
		{KeyDisabled, "DisabledException", keyARN + " is disabled."},
		{KeyPendingDeletion, "KMSInvalidStateException", keyARN + " is pending deletion."},
	} {
		if err := s.Fleet().SetKMSKeyState(DefaultKMSKeyID, st.state); err != nil {
			t.Fatal(err)
		}
		d, err := c.DescribeKey(t.Context(), &kms.DescribeKeyInput{KeyId: aws.String(DefaultKMSAlias)})
		if err != nil || d.KeyMetadata.Enabled || string(d.KeyMetadata.KeyState) != st.state {
			t.Errorf("%s: DescribeKey = %+v, %v", st.state, d, err)
		}
		if st.state == KeyPendingDeletion && d.KeyMetadata.DeletionDate == nil {
			t.Errorf("%s: no DeletionDate", st.state)
		}
		_, err = c.GenerateDataKey(t.Context(), &kms.GenerateDataKeyInput{KeyId: aws.String(DefaultKMSAlias), NumberOfBytes: aws.Int32(64)})
		var api smithy.APIError
		if !errors.As(err, &api) || api.ErrorCode() != st.code || api.ErrorMessage() != st.msg {
			t.Errorf("%s: GenerateDataKey: %v, want %s %q", st.state, err, st.code, st.msg)
		}
	}
	var dis *kmstypes.DisabledException
	_ = s.Fleet().SetKMSKeyState(DefaultKMSKeyID, KeyDisabled)
	if _, err := c.GenerateDataKey(t.Context(), &kms.GenerateDataKeyInput{KeyId: aws.String(DefaultKMSKeyID), NumberOfBytes: aws.Int32(64)}); !errors.As(err, &dis) {
		t.Errorf("GenerateDataKey: %v, want the SDK's DisabledException", err)
	}
	_ = s.Fleet().SetKMSKeyState(DefaultKMSKeyID, KeyEnabled)
	if _, err := c.GenerateDataKey(t.Context(), &kms.GenerateDataKeyInput{KeyId: aws.String(DefaultKMSKeyID), NumberOfBytes: aws.Int32(64)}); err != nil {
		t.Errorf("enabled again: %v", err)
	}
	if _, err := ParseFleet([]byte(`{"Instances":[],"KMSKeys":[{"KeyId":"` + DefaultKMSKeyID + `","KeyState":"Gone"}]}`)); err == nil {
		t.Error("an unknown key state was accepted")
	}
}
