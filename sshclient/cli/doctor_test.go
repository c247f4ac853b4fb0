package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ssmssh/ssmssh/ssmtest"
)

// TestDoctorSubcommand: `ssmssh doctor` reports every check, exits 0 for
// a healthy instance and 1 with the ✗ line for a broken one; --json gives
// the same for machines.
func TestDoctorSubcommand(t *testing.T) {
	newEnv(t)
	code, out, errs := run(t, "doctor", "web-al2023")
	if code != 0 {
		t.Fatalf("exit %d; stdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	for _, want := range []string{"✓ credentials: arn:aws:iam::123456789012:user/ssmtest", "✓ target: web-al2023 → " + ssmtest.InstanceAmazonLinux,
		"✓ session start: ", "✓ SSH: port 22 answers SSH-2.0-"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = run(t, "doctor", "--json", ssmtest.InstanceRHEL)
	var rep struct {
		OK     bool
		Checks []struct{ Check, Status, Fix string }
	}
	if err := json.Unmarshal([]byte(out), &rep); code != 1 || err != nil || rep.OK {
		t.Fatalf("exit %d, %v:\n%s", code, err, out)
	}
	if c := rep.Checks[3]; c.Check != "managed" || c.Status != "fail" || c.Fix == "" {
		t.Errorf("managed check %+v", c)
	}
	if code, _, errs := run(t, "doctor"); code != 2 || !strings.Contains(errs, "usage: ssmssh doctor") {
		t.Errorf("no target: exit %d, %q", code, errs)
	}
}

// TestFailureCauses: the causes of the troubleshooting guide that an SSH
// session can meet print their cause on one ssmssh line ending with
// "run `ssmssh doctor <target>` for details".
func TestFailureCauses(t *testing.T) {
	e := newEnv(t)
	const terminated, unmanaged, old = "i-0c1b2c3d4e5f00021", "i-0c1b2c3d4e5f00022", "i-0c1b2c3d4e5f00023"
	for _, in := range []ssmtest.Instance{
		{InstanceID: "i-0c1b2c3d4e5f00024", Name: "twin"}, {InstanceID: "i-0c1b2c3d4e5f00025", Name: "twin"},
		{InstanceID: terminated, State: "terminated"}, {InstanceID: unmanaged, Unmanaged: true},
	} {
		if err := e.s.Fleet().Add(in); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.s.Fleet().Add(ssmtest.Instance{InstanceID: old, AgentVersion: "2.3.612.0", Ports: map[string]string{"22": ssmtest.BuiltinSSH}}); err != nil {
		t.Fatal(err)
	}
	if err := e.s.StartAgent(old); err != nil {
		t.Fatal(err)
	}
	if err := e.s.AwaitAgent(old, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, target, cause string
		fault               func(on bool)
	}{
		{name: "unknown name", target: "no-such-host", cause: `no running EC2 instance has Name tag, private DNS name or private IP "no-such-host"`},
		{name: "ambiguous name", target: "twin", cause: `"twin" matches 2 running instances`},
		{name: "stopped", target: ssmtest.InstanceSUSE, cause: ssmtest.InstanceSUSE + " is stopped, not running"},
		{name: "terminated", target: terminated, cause: terminated + " has been terminated"},
		{name: "not managed", target: unmanaged, cause: unmanaged + " is running but its SSM agent is not connected"},
		{name: "connection lost", target: ssmtest.InstanceRHEL, cause: ssmtest.InstanceRHEL + " is running but its SSM agent is not connected"},
		{name: "agent too old", target: old, cause: "Plugin with name Port is not supported by this version of ssm agent"},
		{name: "StartSession denied", target: ssmtest.InstanceDebian, cause: "not allowed to start a session",
			fault: func(on bool) { e.s.Faults().APIAccessDenied("ssm:StartSession", on) }},
		{name: "expired credentials", target: ssmtest.InstanceDebian, cause: "the AWS session credentials have expired",
			fault: func(on bool) { e.s.Faults().ExpireCredentials(ssmtest.FakeAccessKeyID, on) }},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "-"), func(t *testing.T) {
			if c.fault != nil {
				c.fault(true)
				defer c.fault(false)
			}
			code, out, errs := run(t, e.args("ec2-user@"+c.target, "echo ran")...)
			line, ok := strings.CutSuffix(errs, "\n")
			suffix := "; run `ssmssh doctor " + c.target + "` for details"
			switch {
			case code != 255 || out != "":
				t.Errorf("exit %d, stdout %q", code, out)
			case !ok || strings.Contains(line, "\n") || !strings.HasPrefix(line, "ssmssh: "):
				t.Errorf("stderr is not one ssmssh line: %q", errs)
			case !strings.Contains(line, c.cause) || !strings.HasSuffix(line, suffix):
				t.Errorf("stderr %q, want the cause %q and the suffix %q", line, c.cause, suffix)
			}
		})
	}
}
