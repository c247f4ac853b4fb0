package ssmclient

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2instanceconnect"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
	"golang.org/x/crypto/ssh"

	"github.com/ssmssh/ssmssh/protocol"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// opErr builds the error shape the SDK returns for an API error response,
// for the codes the emulator has no reason to produce.
func opErr(service, op, code, msg string) error {
	return &smithy.OperationError{ServiceID: service, OperationName: op,
		Err: fmt.Errorf("https response error StatusCode: 400, RequestID: x, %w",
			&smithy.GenericAPIError{Code: code, Message: msg})}
}

func TestExplainTable(t *testing.T) {
	tests := []struct {
		err  error
		code string
		op   string
		hint string // substring
	}{
		{opErr("SSM", "StartSession", "ExpiredTokenException", "The security token included in the request is expired"), CodeExpiredToken, "SSM StartSession", "have expired"},
		{opErr("EC2", "DescribeInstances", "ExpiredToken", "expired"), CodeExpiredToken, "EC2 DescribeInstances", "aws sso login"},
		{opErr("SSM", "StartSession", "UnrecognizedClientException", "The security token included in the request is invalid."), CodeBadCredentials, "SSM StartSession", "does not recognise the access key"},
		{opErr("STS", "GetCallerIdentity", "InvalidClientTokenId", "The security token included in the request is invalid."), CodeBadCredentials, "STS GetCallerIdentity", "does not recognise"},
		{opErr("EC2", "DescribeInstances", "AuthFailure", "AWS was not able to validate the provided access credentials"), CodeBadCredentials, "EC2 DescribeInstances", "does not recognise"},
		{opErr("SSM", "StartSession", "InvalidSignatureException", "The request signature we calculated does not match"), CodeBadCredentials, "SSM StartSession", "clock"},
		{opErr("SSM", "StartSession", "ThrottlingException", "Rate exceeded"), CodeThrottled, "SSM StartSession", "wait a moment"},
		{opErr("STS", "AssumeRole", "AccessDenied", "User: x is not authorized to perform: sts:AssumeRole"), CodeAccessDenied, "STS AssumeRole", "trust policy"},
		{opErr("SSO", "GetRoleCredentials", "UnauthorizedException", "Session token not found or invalid"), CodeSSOLogin, "SSO GetRoleCredentials", "aws sso login"},
		// The same, as the SDK nests it: the SSO call fails while an SSM
		// call looks for credentials.
		{&smithy.OperationError{ServiceID: "SSM", OperationName: "StartSession",
			Err: fmt.Errorf("failed to sign request: failed to retrieve credentials: %w",
				opErr("SSO", "GetRoleCredentials", "UnauthorizedException", "Session token not found or invalid"))},
			CodeSSOLogin, "SSM StartSession", "aws sso login"},
		{opErr("SSM", "StartSession", "TargetNotConnected", "mi-0123456789abcdef0 is not connected."), CodeTargetNotConnected, "SSM StartSession", "mi-0123456789abcdef0 is not connected to Session Manager"},
		{opErr("SSM", "StartSession", "TargetNotConnected", ""), CodeTargetNotConnected, "SSM StartSession", "the target is not connected"},
	}
	for _, tc := range tests {
		e := explained(t, tc.err, tc.code)
		if e.Op != tc.op || !strings.Contains(e.Hint, tc.hint) {
			t.Errorf("Explain(%v) = %q (op %q), want op %q and hint containing %q", tc.err, e, e.Op, tc.op, tc.hint)
		}
	}
}

func TestExplainPassesThrough(t *testing.T) {
	unknown := opErr("SSM", "StartSession", "SomethingNew", "new")
	canceled := fmt.Errorf("operation error SSM: StartSession, %w", context.Canceled)
	plain := errors.New("plain")
	already := &Error{Code: CodeThrottled, Hint: "h", Err: plain}
	notKMS := opErr("SSM", "GetDocument", "NotFoundException", "x")
	for _, err := range []error{nil, unknown, canceled, plain, already, notKMS} {
		if got := Explain(err); got != err {
			t.Errorf("Explain(%v) = %v, want it unchanged", err, got)
		}
	}
}

// newEmulator starts the offline AWS emulator for one test.
func newEmulator(t *testing.T, opts ssmtest.Options) *ssmtest.Server {
	t.Helper()
	opts.Logf = t.Logf
	s, err := ssmtest.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// emulatorClient is a Client on the emulator's own aws.Config.
func emulatorClient(t *testing.T, s *ssmtest.Server) *Client {
	t.Helper()
	cfg, err := s.AWSConfig(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	cfg.RetryMaxAttempts = 1
	return NewClientFromConfig(cfg)
}

func startSSH(ctx context.Context, c *Client, target string) error {
	_, err := c.SSM.StartSession(ctx, &ssm.StartSessionInput{
		Target:       aws.String(target),
		DocumentName: aws.String("AWS-StartSSHSession"),
		Parameters:   map[string][]string{"portNumber": {"22"}},
	})
	return err
}

func TestExplainEmulator(t *testing.T) {
	s := newEmulator(t, ssmtest.Options{})
	c := emulatorClient(t, s)
	ctx := t.Context()

	t.Run("TargetNotConnected", func(t *testing.T) {
		err := startSSH(ctx, c, ssmtest.InstanceRHEL) // agent ConnectionLost
		var tnc *ssmtypes.TargetNotConnected
		if !errors.As(err, &tnc) {
			t.Fatalf("StartSession: %v, want TargetNotConnected", err)
		}
		e := explained(t, err, CodeTargetNotConnected)
		want := "ssmclient: SSM StartSession: " + ssmtest.InstanceRHEL + " is not connected to Session Manager: the instance is stopped, its SSM agent is offline, or the id is wrong (check `aws ssm describe-instance-information`)"
		if e.Error() != want {
			t.Errorf("got  %s\nwant %s", e, want)
		}
		// errors.As still finds the SDK's typed error through Explain.
		if !errors.As(Explain(err), &tnc) {
			t.Error("typed TargetNotConnected lost")
		}
	})

	t.Run("InvalidDocument", func(t *testing.T) {
		_, err := c.SSM.StartSession(ctx, &ssm.StartSessionInput{
			Target: aws.String(ssmtest.InstanceAmazonLinux), DocumentName: aws.String("No-Such-Document"),
		})
		e := explained(t, err, CodeInvalidDocument)
		if !strings.Contains(e.Error(), "No-Such-Document") {
			t.Errorf("hint should quote AWS's message naming the document: %s", e)
		}
	})

	t.Run("InstanceNotFound", func(t *testing.T) {
		_, err := c.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-0000000000000dead"}})
		e := explained(t, err, CodeInstanceNotFound)
		if e.Op != "EC2 DescribeInstances" || !strings.Contains(e.Error(), "i-0000000000000dead") {
			t.Errorf("explained as %q", e)
		}
	})

	t.Run("InstanceNotRunning", func(t *testing.T) {
		_, err := c.EC2InstanceConnect.SendSSHPublicKey(ctx, &ec2instanceconnect.SendSSHPublicKeyInput{
			InstanceId: aws.String(ssmtest.InstanceSUSE), InstanceOSUser: aws.String("ec2-user"),
			SSHPublicKey: aws.String(testSSHKey),
		})
		explained(t, err, CodeInstanceNotRunning)
	})

	t.Run("KMSKeyNotFound", func(t *testing.T) {
		_, err := c.KMS.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
			KeyId: aws.String("arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"), NumberOfBytes: aws.Int32(64),
		})
		var nf *kmstypes.NotFoundException
		if !errors.As(err, &nf) {
			t.Fatalf("GenerateDataKey: %v", err)
		}
		e := explained(t, err, CodeKMSKeyNotFound)
		if !strings.Contains(e.Hint, "Invalid keyId") && !strings.Contains(e.Hint, "does not exist") {
			t.Errorf("hint %q", e.Hint)
		}
		if !strings.Contains(e.Hint, "the KMS key in the Session Manager preferences does not exist") {
			t.Errorf("hint %q", e.Hint)
		}
	})

	t.Run("KMSInvalidKeyFault", func(t *testing.T) {
		s.Faults().KMSInvalidKey(true)
		defer s.Faults().KMSInvalidKey(false)
		_, err := c.KMS.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(ssmtest.DefaultKMSKeyID), NumberOfBytes: aws.Int32(64)})
		e := explained(t, err, CodeKMSKeyNotFound)
		if !strings.HasPrefix(e.Hint, "Invalid keyId") {
			t.Errorf("hint %q should start with KMS's Invalid keyId message", e.Hint)
		}
	})
}

func TestExplainAccessDenied(t *testing.T) {
	s := newEmulator(t, ssmtest.Options{})
	c := emulatorClient(t, s)
	ctx := t.Context()
	tests := []struct {
		action string
		call   func() error
		op     string
		hint   string
	}{
		{"ssm:StartSession", func() error { return startSSH(ctx, c, ssmtest.InstanceAmazonLinux) },
			"SSM StartSession", "ssm:StartSession"},
		{"ec2-instance-connect:SendSSHPublicKey", func() error {
			_, err := c.EC2InstanceConnect.SendSSHPublicKey(ctx, &ec2instanceconnect.SendSSHPublicKeyInput{
				InstanceId: aws.String(ssmtest.InstanceAmazonLinux), InstanceOSUser: aws.String("ec2-user"),
				SSHPublicKey: aws.String(testSSHKey),
			})
			return err
		}, "EC2 Instance Connect SendSSHPublicKey", "ec2-instance-connect:SendSSHPublicKey"},
		{"kms:GenerateDataKey", func() error {
			_, err := c.KMS.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(ssmtest.DefaultKMSAlias), NumberOfBytes: aws.Int32(64)})
			return err
		}, "KMS GenerateDataKey", "kms:GenerateDataKey"},
		{"ec2:DescribeInstances", func() error {
			_, err := c.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
			return err
		}, "EC2 DescribeInstances", "not authorized to call EC2 DescribeInstances"},
	}
	for _, tc := range tests {
		t.Run(tc.action, func(t *testing.T) {
			if err := tc.call(); err != nil {
				t.Fatalf("allowed call failed: %v", err)
			}
			s.Faults().APIAccessDenied(tc.action, true)
			defer s.Faults().APIAccessDenied(tc.action, false)
			e := explained(t, tc.call(), CodeAccessDenied)
			if e.Op != tc.op || !strings.Contains(e.Hint, tc.hint) || !strings.Contains(e.Hint, "AWS says:") {
				t.Errorf("explained as %q (op %q)", e, e.Op)
			}
		})
	}
	// Sessions started by the allowed calls are still live; end them.
	for _, sess := range s.Sessions().All() {
		_ = s.Sessions().Terminate(sess.ID, "test over")
	}
}

// testSSHKey is a fresh ed25519 public key in authorized_keys form.
var testSSHKey = func() string {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))
}()

// TestExplainDial: a data-channel upgrade the message gateway refused is
// explained by the AWS error in its answer; other dial failures are not.
func TestExplainDial(t *testing.T) {
	refused := func(status int, code, msg string) error {
		return fmt.Errorf("ssmclient: resume: %w", &protocol.DialError{URL: "wss://ssmmessages.example/v1/data-channel/s-1",
			StatusCode: status, Code: code, Message: msg})
	}
	tests := []struct {
		err  error
		code string
		hint string
	}{
		{refused(403, "ExpiredTokenException", "The security token included in the request is expired"), CodeExpiredToken, "have expired"},
		{refused(403, "UnrecognizedClientException", "The security token included in the request is invalid."), CodeBadCredentials, "does not recognise the access key"},
		{refused(403, "AccessDeniedException", "User: x is not authorized to perform: ssmmessages:OpenDataChannel"), CodeAccessDenied, "ssmmessages:OpenDataChannel"},
		{refused(403, "InvalidSignatureException", "Signature expired: 20250102T030405Z is now earlier than …"), CodeSignatureRefused, "(403 InvalidSignatureException: Signature expired"},
		{refused(403, "BadRequest", "964c3550: Request is not authenticated."), CodeSignatureRefused, "Request is not authenticated."},
		{refused(401, "", ""), CodeSignatureRefused, "(401)"},
	}
	for _, tc := range tests {
		e := explained(t, tc.err, tc.code)
		if e.Op != "ssmmessages OpenDataChannel" || !strings.Contains(e.Hint, tc.hint) || strings.Contains(e.Error(), "\n") {
			t.Errorf("Explain(%v) = %q, want op ssmmessages OpenDataChannel and a hint with %q on one line", tc.err, e, tc.hint)
		}
	}
	for _, err := range []error{
		refused(404, "", "not found"),
		&protocol.DialError{URL: "wss://x", Err: errors.New("connection refused")},
	} {
		if got := Explain(err); got != err {
			t.Errorf("Explain(%v) = %v, want it unchanged", err, got)
		}
	}
}
