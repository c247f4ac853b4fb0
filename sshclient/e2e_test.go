package sshclient

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2instanceconnect"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/ssmssh/ssmssh/internal/sshdtest"
	"github.com/ssmssh/ssmssh/ssmclient"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// emulator starts an ssmtest server and returns it with a client.
func emulator(t *testing.T, opts ssmtest.Options) (*ssmtest.Server, *ssmclient.Client) {
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
	cfg, err := s.AWSConfig(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return s, ssmclient.NewClientFromConfig(cfg)
}

// dialSSM starts an SSH session to cfg's ssmproxy target and logs in.
func dialSSM(t *testing.T, client *ssmclient.Client, cfg *Config) (*ssh.Client, error) {
	t.Helper()
	if !cfg.UsesSSMProxy {
		t.Fatal("the configuration does not go through ssmproxy")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	sess, err := client.StartSession(ctx, ssmclient.StartInput{
		Target: cfg.SSMProxy.Target, DocumentName: ssmclient.DocumentSSH,
		Parameters: map[string][]string{"portNumber": {cfg.SSMProxy.Port}}, Logf: t.Logf,
	})
	if err != nil {
		t.Fatalf("StartSession: %v", err)
	}
	c, err := Dial(ctx, sess, cfg)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	return c, nil
}

// TestEndToEnd resolves an ssh_config entry that names ssmproxy, starts
// the session itself through the emulator and runs a command, against
// the built-in SSH server and a real sshd put behind an instance. The
// first contact records the host key under the instance id.
func TestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	key := writeSigner(t, dir, "id_ed25519", newEd25519(t), "")
	akf := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(akf, ssh.MarshalAuthorizedKey(key.pub), 0o600); err != nil {
		t.Fatal(err)
	}
	s, client := emulator(t, ssmtest.Options{AuthorizedKeysFile: akf})

	targets := []struct {
		name, instance, user string
		hostKey              ssh.PublicKey
	}{
		{"builtin", ssmtest.InstanceAmazonLinux, "ec2-user", s.HostKey(ssmtest.InstanceAmazonLinux)},
	}
	if _, err := os.Stat(sshdtest.SshdPath); err == nil {
		d := sshdtest.Start(t, sshdtest.Options{AuthorizedKeys: []ssh.PublicKey{key.pub}})
		if err := s.Fleet().SetPort(ssmtest.InstanceUbuntu, "22", d.Addr); err != nil {
			t.Fatal(err)
		}
		targets = append(targets, struct {
			name, instance, user string
			hostKey              ssh.PublicKey
		}{"sshd", ssmtest.InstanceUbuntu, d.User, d.HostKey()})
	}
	for _, tgt := range targets {
		t.Run(tgt.name, func(t *testing.T) {
			home := t.TempDir()
			writeConfig(t, home, `
Host i-* mi-*
    ProxyCommand ssmproxy --region us-east-1 %h %p
    IdentityFile `+key.path+`
    IdentityAgent none
    StrictHostKeyChecking accept-new
`, nil)
			cfg, err := Resolve(tgt.user+"@"+tgt.instance, testOptions(home))
			if err != nil {
				t.Fatal(err)
			}
			cfg.Prompter, cfg.Logf, cfg.Warnf = noPrompter(t), t.Logf, t.Logf
			c, err := dialSSM(t, client, cfg)
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			var out, errOut bytes.Buffer
			code, err := Run(t.Context(), c, "echo hi; echo oops >&2; exit 4", nil, &out, &errOut)
			if code != 4 || out.String() != "hi\n" || errOut.String() != "oops\n" {
				t.Errorf("Run = %d, %v; stdout %q stderr %q", code, err, out.String(), errOut.String())
			}
			c.Close()

			kh := filepath.Join(home, ".ssh", "known_hosts")
			want := knownhosts.Line([]string{tgt.instance}, tgt.hostKey) + "\n"
			if got := readFile(t, kh); got != want {
				t.Errorf("known_hosts = %q, want %q", got, want)
			}
			// Again, now strictly: the recorded key matches.
			cfg.StrictHostKeyChecking = StrictYes
			c, err = dialSSM(t, client, cfg)
			if err != nil {
				t.Fatalf("second Dial: %v", err)
			}
			out.Reset()
			if code, err := Run(t.Context(), c, "echo again", nil, &out, nil); code != 0 || out.String() != "again\n" {
				t.Errorf("second Run = %d, %v, %q", code, err, out.String())
			}
		})
	}
}

// fakeClock is the emulator's clock, moved by the test.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestInstanceConnectEndToEnd pushes an ephemeral key with EC2 Instance
// Connect and logs in with it alone; the key works for its user only and
// stops working after 60 seconds.
func TestInstanceConnectEndToEnd(t *testing.T) {
	clock := &fakeClock{now: time.Now()}
	akf := filepath.Join(t.TempDir(), "authorized_keys") // no keys at all
	_, client := emulator(t, ssmtest.Options{AuthorizedKeysFile: akf, Clock: clock.Now})
	id := ssmtest.InstanceAmazonLinux
	config := func(user string, signers ...ssh.Signer) *Config {
		kh := filepath.Join(t.TempDir(), "known_hosts")
		return &Config{
			Host: id, HostName: id, Port: 22, User: user,
			IdentityAgent: "none", UserKnownHostsFiles: []string{kh}, StrictHostKeyChecking: StrictAcceptNew,
			ExtraSigners: signers, UsesSSMProxy: true, SSMProxy: SSMProxy{Target: id, Port: "22"},
			Prompter: noPrompter(t), Logf: t.Logf,
		}
	}
	var authErr *AuthError
	if _, err := dialSSM(t, client, config("ec2-user")); !errors.As(err, &authErr) {
		t.Fatalf("without a key: %v, want *AuthError", err)
	}

	signer, err := PushInstanceConnectKey(t.Context(), client.EC2InstanceConnect, id, "ec2-user")
	if err != nil {
		t.Fatal(err)
	}
	c, err := dialSSM(t, client, config("ec2-user", signer))
	if err != nil {
		t.Fatalf("with the pushed key: %v", err)
	}
	var out bytes.Buffer
	if code, err := Run(t.Context(), c, "echo eic", nil, &out, nil); code != 0 || out.String() != "eic\n" {
		t.Errorf("Run = %d, %v, %q", code, err, out.String())
	}
	if _, err := dialSSM(t, client, config("root", signer)); !errors.As(err, &authErr) {
		t.Errorf("the key pushed for ec2-user let root in: %v", err)
	}
	clock.advance(InstanceConnectKeyLifetime + time.Second)
	if _, err := dialSSM(t, client, config("ec2-user", signer)); !errors.As(err, &authErr) {
		t.Errorf("the key still works after %v: %v", InstanceConnectKeyLifetime, err)
	}

	// AWS's refusals are explained.
	if _, err := PushInstanceConnectKey(t.Context(), client.EC2InstanceConnect, ssmtest.InstanceSUSE, "ec2-user"); err == nil ||
		!strings.HasPrefix(err.Error(), "sshclient: EC2 Instance Connect: ") {
		t.Errorf("push to a stopped instance: %v", err)
	}
}

// fakeEIC records SendSSHPublicKey calls.
type fakeEIC struct {
	in      *ec2instanceconnect.SendSSHPublicKeyInput
	success bool
	err     error
}

func (f *fakeEIC) SendSSHPublicKey(_ context.Context, in *ec2instanceconnect.SendSSHPublicKeyInput, _ ...func(*ec2instanceconnect.Options)) (*ec2instanceconnect.SendSSHPublicKeyOutput, error) {
	f.in = in
	if f.err != nil {
		return nil, f.err
	}
	return &ec2instanceconnect.SendSSHPublicKeyOutput{Success: f.success}, nil
}

func TestPushInstanceConnectKey(t *testing.T) {
	api := &fakeEIC{success: true}
	s1, err := PushInstanceConnectKey(t.Context(), api, "i-0123", "ec2-user")
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(*api.in.SSHPublicKey))
	if err != nil || !keysEqual(pub, s1.PublicKey()) || pub.Type() != ssh.KeyAlgoED25519 {
		t.Errorf("pushed %q (%v), signer %s", *api.in.SSHPublicKey, err, ssh.FingerprintSHA256(s1.PublicKey()))
	}
	if *api.in.InstanceId != "i-0123" || *api.in.InstanceOSUser != "ec2-user" || api.in.AvailabilityZone != nil {
		t.Errorf("input %+v", api.in)
	}
	s2, err := PushInstanceConnectKey(t.Context(), api, "i-0123", "ec2-user")
	if err != nil || keysEqual(s1.PublicKey(), s2.PublicKey()) {
		t.Errorf("second push reused the key (%v)", err)
	}
	if _, err := PushInstanceConnectKey(t.Context(), &fakeEIC{success: false}, "i-1", "u"); err == nil {
		t.Error("Success=false accepted")
	}
	if _, err := PushInstanceConnectKey(t.Context(), &fakeEIC{err: errors.New("boom")}, "i-1", "u"); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("API error: %v", err)
	}
	if _, err := PushInstanceConnectKey(t.Context(), api, "", "u"); err == nil {
		t.Error("empty instance id accepted")
	}
}
