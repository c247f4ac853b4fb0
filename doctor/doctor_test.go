package doctor_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ssmssh/ssmssh/doctor"
	"github.com/ssmssh/ssmssh/internal/e2etest"
	"github.com/ssmssh/ssmssh/ssmclient"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// agentHandshakeTimeout is the built-in agents' handshake deadline in
// these tests: short, so that an instance that cannot reach KMS fails
// quickly.
const agentHandshakeTimeout = time.Second

// emulator starts an emulator for one case and returns a client of it.
func emulator(t *testing.T, opts ssmtest.Options) (*ssmtest.Server, *ssmclient.Client) {
	t.Helper()
	if opts.AgentHandshakeTimeout == 0 {
		opts.AgentHandshakeTimeout = agentHandshakeTimeout
	}
	return e2etest.Emulator(t, e2etest.NewLog(t), opts)
}

// fleetWith is the default fleet plus extra instances.
func fleetWith(t *testing.T, extra ...ssmtest.Instance) *ssmtest.Fleet {
	t.Helper()
	f := ssmtest.DefaultFleet()
	for _, in := range extra {
		if err := f.Add(in); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// fleetChanged is the default fleet with one instance changed before the
// emulator starts (and its agent with it).
func fleetChanged(t *testing.T, id string, change func(*ssmtest.Instance)) *ssmtest.Fleet {
	t.Helper()
	f := ssmtest.DefaultFleet()
	must(t, f.Update(id, change))
	return f
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestCauses gives the emulator each cause of the troubleshooting guide
// and checks that doctor marks exactly the check that names it ✗, with
// its fix, and every other check ✓, - or ?; without a cause every check
// passes.
func TestCauses(t *testing.T) {
	root := os.Geteuid() == 0
	runAsMissingFix := "create ssmtest-no-such-user on the instance"
	if !root {
		// The built-in agent checks that it runs as root before it looks
		// the user up, as amazon-ssm-agent does.
		runAsMissingFix = "run amazon-ssm-agent as root"
	}
	cases := []struct {
		name     string
		opts     ssmtest.Options
		setup    func(t *testing.T, s *ssmtest.Server)
		target   string
		document string
		ssh      bool
		check    string // "" when every check must pass
		evidence string
		fix      string
	}{
		{name: "healthy", target: "web-al2023", ssh: true},
		{name: "healthy encrypted shell", opts: ssmtest.Options{KMSKeyID: ssmtest.DefaultKMSAlias}, target: ssmtest.InstanceUbuntu},
		{name: "unknown name", target: "no-such-host", check: doctor.CheckTarget,
			evidence: `no running EC2 instance has Name tag, private DNS name or private IP "no-such-host"`, fix: "use the instance id"},
		{name: "ambiguous name", target: "twin", check: doctor.CheckTarget,
			opts: ssmtest.Options{Fleet: fleetWith(t,
				ssmtest.Instance{InstanceID: "i-0b1b2c3d4e5f00011", Name: "twin"},
				ssmtest.Instance{InstanceID: "i-0b1b2c3d4e5f00012", Name: "twin"})},
			evidence: "i-0b1b2c3d4e5f00011 (twin", fix: "name one of them by its instance id"},
		{name: "stopped", target: ssmtest.InstanceSUSE, check: doctor.CheckEC2,
			evidence: "is stopped", fix: "aws ec2 start-instances --instance-ids " + ssmtest.InstanceSUSE},
		{name: "stopped by name", target: "batch-suse", check: doctor.CheckEC2, evidence: "is stopped", fix: "start-instances"},
		{name: "terminated", target: "i-0b1b2c3d4e5f00013", check: doctor.CheckEC2,
			opts:     ssmtest.Options{Fleet: fleetWith(t, ssmtest.Instance{InstanceID: "i-0b1b2c3d4e5f00013", State: "terminated"})},
			evidence: "is terminated", fix: "cannot come back"},
		{name: "not managed", target: "i-0b1b2c3d4e5f00014", check: doctor.CheckManaged,
			opts:     ssmtest.Options{Fleet: fleetWith(t, ssmtest.Instance{InstanceID: "i-0b1b2c3d4e5f00014", Unmanaged: true})},
			evidence: "is not a managed node", fix: "AmazonSSMManagedInstanceCore"},
		{name: "connection lost", target: ssmtest.InstanceRHEL, check: doctor.CheckManaged,
			evidence: "ping ConnectionLost", fix: "systemctl status amazon-ssm-agent"},
		{name: "agent too old", target: ssmtest.InstanceDebian, ssh: true, check: doctor.CheckManaged,
			opts:     ssmtest.Options{Fleet: fleetChanged(t, ssmtest.InstanceDebian, func(in *ssmtest.Instance) { in.AgentVersion = "2.3.612.0" })},
			evidence: "AWS-StartSSHSession needs agent 2.3.672.0 or later", fix: "AWS-UpdateSSMAgent"},
		{name: "StartSession denied", target: ssmtest.InstanceDebian, check: doctor.CheckIAM,
			setup:    func(t *testing.T, s *ssmtest.Server) { s.Faults().APIAccessDenied("ssm:StartSession", true) },
			evidence: "ssm:StartSession on arn:aws:ec2:us-east-1:123456789012:instance/" + ssmtest.InstanceDebian + ": implicitDeny",
			fix:      "statement allowing ssm:StartSession"},
		{name: "KMS key missing", target: ssmtest.InstanceDebian, check: doctor.CheckPreferences,
			opts:     ssmtest.Options{KMSKeyID: "alias/gone"},
			evidence: `the KMS key "alias/gone" of the session preferences does not exist`, fix: "set kmsKeyId in the session preferences"},
		{name: "KMS key disabled", target: ssmtest.InstanceDebian, check: doctor.CheckPreferences,
			opts: ssmtest.Options{KMSKeyID: ssmtest.DefaultKMSAlias},
			setup: func(t *testing.T, s *ssmtest.Server) {
				must(t, s.Fleet().SetKMSKeyState(ssmtest.DefaultKMSKeyID, ssmtest.KeyDisabled))
			},
			evidence: "key/" + ssmtest.DefaultKMSKeyID + " of the session preferences is Disabled", fix: "aws kms enable-key"},
		{name: "GenerateDataKey denied", target: ssmtest.InstanceDebian, check: doctor.CheckIAM,
			opts:     ssmtest.Options{KMSKeyID: ssmtest.DefaultKMSAlias},
			setup:    func(t *testing.T, s *ssmtest.Server) { s.Faults().KMSDenyGenerateDataKey(true) },
			evidence: "kms:GenerateDataKey on arn:aws:kms:us-east-1:123456789012:key/" + ssmtest.DefaultKMSKeyID + ": implicitDeny",
			fix:      "statement allowing kms:GenerateDataKey"},
		{name: "Decrypt denied on the instance", target: ssmtest.InstanceDebian, check: doctor.CheckSession,
			opts:     ssmtest.Options{KMSKeyID: ssmtest.DefaultKMSAlias},
			setup:    func(t *testing.T, s *ssmtest.Server) { s.Faults().KMSDenyDecrypt(true) },
			evidence: "arn:aws:iam::123456789012:role/" + ssmtest.InstanceRoleName + " lacks kms:Decrypt on arn:aws:kms:us-east-1:123456789012:key/" + ssmtest.DefaultKMSKeyID,
			fix:      "statement allowing kms:Decrypt"},
		{name: "instance cannot reach KMS", target: ssmtest.InstanceDebian, check: doctor.CheckSession,
			opts: ssmtest.Options{KMSKeyID: ssmtest.DefaultKMSAlias},
			setup: func(t *testing.T, s *ssmtest.Server) {
				must(t, s.Fleet().Update(ssmtest.InstanceDebian, func(in *ssmtest.Instance) { in.KMSUnreachable = true }))
			},
			evidence: "the instance cannot reach the KMS endpoint kms.us-east-1.amazonaws.com:443", fix: "/dev/tcp/kms.us-east-1.amazonaws.com/443"},
		{name: "RunAs blank", target: ssmtest.InstanceDebian, check: doctor.CheckPreferences,
			opts:     ssmtest.Options{RunAsEnabled: true},
			evidence: "Run As is on but no user is set", fix: "SSMSessionRunAs=<an OS user"},
		{name: "RunAs user missing", target: ssmtest.InstanceDebian, check: doctor.CheckSession,
			opts: ssmtest.Options{RunAsEnabled: true, RunAsDefaultUser: "admin"},
			setup: func(t *testing.T, s *ssmtest.Server) {
				s.Faults().Set(func(f *ssmtest.FaultSet) { f.RunAsUserMissing = true })
			},
			evidence: "", fix: runAsMissingFix},
		{name: "expired credentials", target: ssmtest.InstanceDebian, check: doctor.CheckCredentials,
			setup:    func(t *testing.T, s *ssmtest.Server) { s.Faults().ExpireCredentials(ssmtest.FakeAccessKeyID, true) },
			evidence: "the credentials have expired", fix: "get fresh ones"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, client := emulator(t, c.opts)
			if c.setup != nil {
				c.setup(t, s)
			}
			rep, err := doctor.Run(t.Context(), doctor.Options{Client: client, Target: c.target, DocumentName: c.document,
				SSH: c.ssh, StartTimeout: 20 * time.Second, ShellWait: 5 * time.Second, Logf: t.Logf})
			if err != nil {
				t.Fatal(err)
			}
			var text bytes.Buffer
			must(t, rep.WriteText(&text))
			t.Logf("report:\n%s", text.String())
			for _, res := range rep.Results {
				switch {
				case res.Check == c.check:
					if res.Status != doctor.Fail || !strings.Contains(res.Evidence, c.evidence) || !strings.Contains(res.Fix, c.fix) || res.Fix == "" {
						t.Errorf("%s: %v %q, fix %q; want ✗ with %q, fix %q", res.Check, res.Status, res.Evidence, res.Fix, c.evidence, c.fix)
					}
					if !strings.Contains(text.String(), "✗ ") || !strings.Contains(text.String(), "fix: "+res.Fix) {
						t.Errorf("text report lacks the ✗ line or its fix")
					}
				case c.check == "" && res.Status != doctor.Pass && res.Status != doctor.Skip:
					t.Errorf("%s: %v %q, want ✓", res.Check, res.Status, res.Evidence)
				case res.Status == doctor.Fail:
					t.Errorf("%s: ✗ %q, but the cause is the %s check's", res.Check, res.Evidence, c.check)
				}
			}
			if _, ok := rep.Result(c.check); c.check != "" && !ok {
				t.Errorf("no %s check in the report", c.check)
			}
			if rep.OK != (c.check == "") {
				t.Errorf("report OK %v", rep.OK)
			}
		})
	}
}

// TestReportJSON: --json's shape: every check with its status word.
func TestReportJSON(t *testing.T) {
	_, client := emulator(t, ssmtest.Options{})
	rep, err := doctor.Run(t.Context(), doctor.Options{Client: client, Target: ssmtest.InstanceRHEL})
	must(t, err)
	var buf bytes.Buffer
	must(t, rep.WriteJSON(&buf))
	var got struct {
		Target, TargetID string
		OK               bool
		Checks           []struct{ Check, Status, Evidence, Fix string }
	}
	must(t, json.Unmarshal(buf.Bytes(), &got))
	if got.Target != ssmtest.InstanceRHEL || got.OK || len(got.Checks) != 7 {
		t.Fatalf("JSON report %s", buf.String())
	}
	want := []string{"pass", "pass", "pass", "fail", "pass", "pass", "unknown"}
	for i, ch := range got.Checks {
		if ch.Status != want[i] {
			t.Errorf("check %d %s: %s, want %s", i, ch.Check, ch.Status, want[i])
		}
	}
}

// FuzzDiagnoseText: any text the agent ends a session with is either not
// recognised or explained on one line, naming a known check.
func FuzzDiagnoseText(f *testing.F) {
	for _, s := range []string{
		"Handshake timed out. Please ensure that you have the latest version of the session manager plugin.",
		"Unable to start command: failed to start pty since RunAs user x does not exist\n",
		"Fetching data key failed: Unable to retrieve data key, Error when decrypting data key AccessDeniedException: User: arn:aws:sts::1:assumed-role/R/i-1 is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:r:1:key/k",
		"KMSEncryption failed on client with status 2 error: NotFoundException",
		"Plugin with name Port is not supported by this version of ssm agent",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		fd, ok := doctor.Diagnose(&ssmclient.SessionEndedError{Output: text}, "us-east-1")
		if !ok {
			return
		}
		line := doctor.OneLine(&ssmclient.SessionEndedError{Output: text}, "us-east-1", "i-1")
		if fd.Check == "" || fd.Cause == "" || strings.ContainsAny(line, "\r\n") || !strings.HasSuffix(line, doctor.Suffix("i-1")) {
			t.Errorf("finding %+v, line %q", fd, line)
		}
	})
}

// TestExplainEnded: an agent's end text on one line, with the guide's
// cause and fix for the texts Diagnose knows and as it is otherwise.
func TestExplainEnded(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"Unable to start command: failed to start pty since RunAs user x does not exist\n",
			"Unable to start command: failed to start pty since RunAs user x does not exist (the Run As user x does not exist on the instance: create x"},
		{"Invalid RunAs username", "Invalid RunAs username (Run As is on in the session preferences but no user is set: "},
		{"Handshake timed out. Please ensure that you have the latest version of the session manager plugin.",
			"plugin. (the agent timed out in the session handshake; with KMS encryption on in the session preferences this means the instance cannot reach the KMS endpoint kms.eu-west-1.amazonaws.com:443: "},
		{"Fetching data key failed: Unable to retrieve data key, Error when decrypting data key AccessDeniedException: User: arn:aws:sts::1:assumed-role/R/i-1 is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:r:1:key/k",
			"(the instance cannot decrypt the session's data key: "},
		{"  something\nelse ", "something else"},
	} {
		got := doctor.ExplainEnded(tt.in, "eu-west-1")
		if !strings.Contains(got, tt.want) || strings.ContainsAny(got, "\r\n") || (tt.want == "something else") != (got == tt.want) {
			t.Errorf("%q:\n%q\nwant it to contain %q", tt.in, got, tt.want)
		}
	}
}

// TestDiagnoseAgentTooOld: ssmclient.CheckAgent's refusal is the managed
// check's cause, and its line ends with the doctor suffix.
func TestDiagnoseAgentTooOld(t *testing.T) {
	err := fmt.Errorf("start: %w", &ssmclient.AgentTooOldError{Target: "i-1", Version: "2.3.1.0", Need: ssmclient.MinAgentVersion(ssmclient.DocumentInteractiveCommand, nil)})
	f, ok := doctor.Diagnose(err, "")
	if !ok || f.Check != doctor.CheckManaged || !strings.Contains(f.Cause, "i-1 is version 2.3.1.0; interactive commands (AWS-StartInteractiveCommand) needs 2.3.668.0 or later") ||
		!strings.Contains(f.Fix, "AWS-UpdateSSMAgent") {
		t.Errorf("%v: %+v", ok, f)
	}
	if got := doctor.WithSuffix("msg", err, "web-1"); got != "msg; run `ssmssh doctor web-1` for details" {
		t.Errorf("WithSuffix: %q", got)
	}
	if got := doctor.WithSuffix("msg", errors.New("other"), "web-1"); got != "msg" {
		t.Errorf("WithSuffix of an unknown cause: %q", got)
	}
}
