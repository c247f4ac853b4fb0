package ssmtest

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2instanceconnect"
	eictypes "github.com/aws/aws-sdk-go-v2/service/ec2instanceconnect/types"
	"golang.org/x/crypto/ssh"
)

func authorizedKey(t *testing.T, pub any) string {
	t.Helper()
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

func TestSendSSHPublicKeyExpires(t *testing.T) {
	clock := newFakeClock()
	s, cfg := startServer(t, Options{Clock: clock.Now})
	c := ec2instanceconnect.NewFromConfig(cfg)
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	line := authorizedKey(t, pub)

	out, err := c.SendSSHPublicKey(t.Context(), &ec2instanceconnect.SendSSHPublicKeyInput{
		InstanceId: aws.String(InstanceAmazonLinux), InstanceOSUser: aws.String("ec2-user"),
		SSHPublicKey: aws.String(line + " laptop"), AvailabilityZone: aws.String("us-east-1a"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !out.Success || aws.ToString(out.RequestId) == "" {
		t.Fatalf("SendSSHPublicKey = %+v", out)
	}
	if got := s.InstanceConnectKeys(InstanceAmazonLinux, "ec2-user"); !slices.Equal(got, []string{line}) {
		t.Fatalf("keys = %q, want %q", got, line)
	}
	if got := s.InstanceConnectKeys(InstanceAmazonLinux, "root"); len(got) != 0 {
		t.Fatalf("keys for another user: %q", got)
	}
	if got := s.InstanceConnectKeys(InstanceUbuntu, "ec2-user"); len(got) != 0 {
		t.Fatalf("keys for another instance: %q", got)
	}
	clock.Advance(InstanceConnectKeyTTL - time.Second)
	if got := s.InstanceConnectKeys(InstanceAmazonLinux, "ec2-user"); len(got) != 1 {
		t.Fatalf("keys after 59 s: %q", got)
	}
	clock.Advance(time.Second)
	if got := s.InstanceConnectKeys(InstanceAmazonLinux, "ec2-user"); len(got) != 0 {
		t.Fatalf("keys after 60 s: %q", got)
	}
}

func TestSendSSHPublicKeyErrors(t *testing.T) {
	s, cfg := startServer(t, Options{})
	c := ec2instanceconnect.NewFromConfig(cfg)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	ed := authorizedKey(t, edPub)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	smallRSA, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	send := func(instance, user, key, az string) error {
		in := &ec2instanceconnect.SendSSHPublicKeyInput{
			InstanceId: aws.String(instance), InstanceOSUser: aws.String(user), SSHPublicKey: aws.String(key),
		}
		if az != "" {
			in.AvailabilityZone = aws.String(az)
		}
		_, err := c.SendSSHPublicKey(t.Context(), in)
		return err
	}
	if err := send(InstanceDebian, "admin", authorizedKey(t, &ecKey.PublicKey), ""); err != nil {
		t.Fatalf("ECDSA key: %v", err)
	}

	var (
		notFound *eictypes.EC2InstanceNotFoundException
		state    *eictypes.EC2InstanceStateInvalidException
		args     *eictypes.InvalidArgsException
	)
	checks := []struct {
		name                string
		instance, user, key string
		az                  string
		target              any
	}{
		{"unknown instance", "i-0123456789abcdef0", "ec2-user", ed, "", &notFound},
		{"stopped instance", InstanceSUSE, "ec2-user", ed, "", &state},
		{"managed node", ManagedNodeOnPrem, "ops", ed, "", &args},
		{"garbage key", InstanceUbuntu, "ubuntu", "ssh-ed25519 " + strings.Repeat("A", 80), "", &args},
		{"RSA too short", InstanceUbuntu, "ubuntu", authorizedKey(t, &smallRSA.PublicKey), "", &args},
		{"bad user name", InstanceUbuntu, "-rf", ed, "", &args},
		{"wrong zone", InstanceUbuntu, "ubuntu", ed, "us-east-1b", &args},
	}
	for _, ch := range checks {
		if err := send(ch.instance, ch.user, ch.key, ch.az); !errors.As(err, ch.target) {
			t.Errorf("%s: %v, want %T", ch.name, err, ch.target)
		}
	}

	s.Faults().APIAccessDenied("ec2-instance-connect:SendSSHPublicKey", true)
	err = send(InstanceUbuntu, "ubuntu", ed, "")
	if ae := apiCode(t, err, "AccessDeniedException"); !strings.Contains(ae.ErrorMessage(), "ec2-instance-connect:SendSSHPublicKey") {
		t.Errorf("denied message %q", ae.ErrorMessage())
	}
}
