package cli

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ssmssh/ssmssh/ssmtest"
)

// TestDoctorSubcommand: `ssmsession doctor` is doctor's command line
// (its usage, exit status 2 without a target).
func TestDoctorSubcommand(t *testing.T) {
	var out, errb bytes.Buffer
	c := &CLI{Stdout: &out, Stderr: &errb}
	if code := c.Main(t.Context(), []string{"doctor"}); code != 2 || !strings.Contains(errb.String(), "usage: ssmsession doctor") {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
}

// TestFailureCauses: the troubleshooting guide's causes that an ordinary
// ssmsession run meets (a command, a shell's preferences, a forwarding)
// print the guide's cause on one ssmsession line ending with "run
// `ssmssh doctor <target>` for details"; a failure doctor does not name
// does not send the user there.
func TestFailureCauses(t *testing.T) {
	runAsCause := "the Run As user ssmtest-no-such-user does not exist on the instance"
	if os.Geteuid() != 0 {
		// The built-in agent checks that it runs as root before it looks
		// the user up, as amazon-ssm-agent does.
		runAsCause = "the instance's SSM agent does not run as root, which Run As needs"
	}
	const id = ssmtest.InstanceDebian
	tooOld := func(t *testing.T, e *env) { e.setAgentVersion(t, id, "2.3.539.0") }
	kms := ssmtest.Options{KMSKeyID: ssmtest.DefaultKMSAlias}
	cases := []struct {
		name   string
		opts   ssmtest.Options
		setup  func(t *testing.T, e *env)
		args   []string // after -q
		target string   // the target in args
		cause  string
		doctor bool // the line ends with the doctor suffix
	}{
		{name: "RunAs user missing", opts: ssmtest.Options{RunAsEnabled: true, RunAsDefaultUser: "admin"},
			setup: func(t *testing.T, e *env) {
				e.s.Faults().Set(func(f *ssmtest.FaultSet) { f.RunAsUserMissing = true })
			},
			args: []string{"-T", id, "--", "true"}, target: id, cause: runAsCause, doctor: true},
		{name: "KMS key missing", opts: ssmtest.Options{KMSKeyID: "alias/gone"}, args: []string{"-T", id, "--", "true"}, target: id,
			cause: "alias/gone is not found.: the KMS key in the Session Manager preferences does not exist", doctor: true},
		{name: "KMS key disabled", opts: kms,
			setup: func(t *testing.T, e *env) {
				if err := e.s.Fleet().SetKMSKeyState(ssmtest.DefaultKMSKeyID, ssmtest.KeyDisabled); err != nil {
					t.Fatal(err)
				}
			},
			args: []string{"-T", id, "--", "true"}, target: id,
			cause: "the KMS key of the session preferences cannot be used (arn:aws:kms:us-east-1:123456789012:key/" + ssmtest.DefaultKMSKeyID + " is disabled.): enable it", doctor: true},
		{name: "KMS key pending deletion", opts: kms,
			setup: func(t *testing.T, e *env) {
				if err := e.s.Fleet().SetKMSKeyState(ssmtest.DefaultKMSKeyID, ssmtest.KeyPendingDeletion); err != nil {
					t.Fatal(err)
				}
			},
			args: []string{"-T", id, "--", "true"}, target: id, cause: "is pending deletion.): enable it", doctor: true},
		{name: "instance cannot reach KMS", opts: ssmtest.Options{KMSKeyID: ssmtest.DefaultKMSAlias, AgentHandshakeTimeout: time.Second},
			setup: func(t *testing.T, e *env) {
				if err := e.s.Fleet().Update(id, func(in *ssmtest.Instance) { in.KMSUnreachable = true }); err != nil {
					t.Fatal(err)
				}
			},
			args: []string{"-T", id, "--", "true"}, target: id,
			cause: "Handshake timed out. Please ensure that you have the latest version of the session manager plugin. (the agent timed out in the session handshake; with KMS encryption on in the session preferences this means the instance cannot reach the KMS endpoint kms.us-east-1.amazonaws.com:443: ", doctor: true},
		{name: "agent too old", setup: tooOld, args: []string{id, "--", "uptime"}, target: id,
			cause: "the SSM agent on " + id + " is version 2.3.539.0; interactive commands (AWS-StartInteractiveCommand) needs 2.3.668.0 or later: update the agent", doctor: true},
		{name: "agent too old to forward", setup: tooOld, args: []string{"-L", "0:80", id}, target: id,
			cause: "the SSM agent on " + id + " is version 2.3.539.0; port forwarding (AWS-StartPortForwardingSession) needs 2.3.672.0 or later: update the agent", doctor: true},
		{name: "unknown target", args: []string{"no-such-host"}, target: "no-such-host",
			cause: `no running EC2 instance has Name tag, private DNS name or private IP "no-such-host"`, doctor: true},
		{name: "stopped instance", args: []string{"-T", ssmtest.InstanceSUSE, "--", "true"}, target: ssmtest.InstanceSUSE,
			cause: "SSM StartSession: " + ssmtest.InstanceSUSE + " is stopped, not running: start it, then retry", doctor: true},
		{name: "stopped instance by name", args: []string{"batch-suse"}, target: "batch-suse",
			cause: `"batch-suse"; matching but not running: ` + ssmtest.InstanceSUSE + " (batch-suse", doctor: true},
		{name: "stopped instance forwarded", args: []string{"-L", "0:80", ssmtest.InstanceSUSE}, target: ssmtest.InstanceSUSE,
			cause: ssmtest.InstanceSUSE + " is stopped, not running", doctor: true},
		{name: "not a doctor cause", args: []string{"-N", id}, target: id, cause: "-N without -L or -D: nothing to do"},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "-"), func(t *testing.T) {
			e := newEnv(t, c.opts)
			if c.setup != nil {
				c.setup(t, e)
			}
			r := run(t, nil, append([]string{"-q"}, c.args...)...)
			if r.code != ExitFailure || r.stdout != "" {
				t.Fatalf("exit %d, stdout %q; stderr:\n%s", r.code, r.stdout, r.stderr)
			}
			// Before the line, only what the agent sent to stderr (the
			// RunAs failure's text).
			if !strings.HasSuffix(r.stderr, "\n") || strings.Count(r.stderr, "ssmsession: ") != 1 {
				t.Fatalf("stderr is not one ssmsession line:\n%s", r.stderr)
			}
			lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
			line, ok := strings.CutPrefix(lines[len(lines)-1], "ssmsession: ")
			suffix := "; run `ssmssh doctor " + c.target + "` for details"
			switch {
			case !ok:
				t.Errorf("the last line is not ssmsession's:\n%s", r.stderr)
			case !strings.Contains(line, c.cause):
				t.Errorf("line %q lacks the cause %q", line, c.cause)
			case c.doctor && !strings.HasSuffix(line, suffix):
				t.Errorf("line %q does not end with %q", line, suffix)
			case !c.doctor && strings.Contains(line, "ssmssh doctor"):
				t.Errorf("line %q sends the user to doctor for a cause it does not name", line)
			}
		})
	}
}
