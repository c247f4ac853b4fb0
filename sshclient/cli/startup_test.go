package cli

import (
	"strings"
	"testing"

	"github.com/ssmssh/ssmssh/ssmtest"
)

// ec2Calls sums the EC2 calls in an APICalls map.
func ec2Calls(calls map[string]int) int {
	n := 0
	for k, v := range calls {
		if strings.HasPrefix(k, "ec2 ") {
			n += v
		}
	}
	return n
}

// callsOf runs ssmssh with args and returns the API calls it made.
func callsOf(t *testing.T, e *env, args ...string) (calls map[string]int, stderr string) {
	t.Helper()
	before := e.s.APICalls()
	code, out, errs := run(t, e.args(args...)...)
	if code != 0 || out != "ok\n" {
		t.Fatalf("ssmssh %q: exit %d, stdout %q; stderr:\n%s", args, code, out, errs)
	}
	calls = e.s.APICalls()
	for k, v := range before {
		calls[k] -= v
		if calls[k] == 0 {
			delete(calls, k)
		}
	}
	return calls, errs
}

// TestStartupIDWithUserNoEC2 checks that an instance id with a user makes
// no EC2 call: StartSession is the only round trip before SSH.
func TestStartupIDWithUserNoEC2(t *testing.T) {
	e := newEnv(t)
	calls, errs := callsOf(t, e, "-v", "ec2-user@"+ssmtest.InstanceAmazonLinux, "echo ok")
	if n := ec2Calls(calls); n != 0 {
		t.Errorf("%d EC2 calls for an instance id with a user: %v", n, calls)
	}
	if calls["ssm StartSession"] != 1 {
		t.Errorf("StartSession calls: %v", calls)
	}
	for _, want := range []string{"is a target id: no lookup", "StartSession, data channel and handshake in", "SSH login in", "connected in"} {
		if !strings.Contains(errs, want) {
			t.Errorf("-v does not say %q:\n%s", want, errs)
		}
	}
}

// TestStartupCachedNameAndUser checks that a second connection to a name
// without a user makes no EC2 call at all: the name and the default user
// come from the caches.
func TestStartupCachedNameAndUser(t *testing.T) {
	e := newEnv(t)
	calls, errs := callsOf(t, e, "-v", "web-al2023", "echo ok")
	if calls["ec2 DescribeInstances"] == 0 || !strings.Contains(errs, "(EC2 DescribeInstances,") {
		t.Fatalf("the first connection did not look the name up: %v\n%s", calls, errs)
	}
	calls, errs = callsOf(t, e, "-v", "web-al2023", "echo ok")
	if n := ec2Calls(calls); n != 0 {
		t.Errorf("second connection: %d EC2 calls: %v", n, calls)
	}
	if !strings.Contains(errs, "web-al2023 is "+ssmtest.InstanceAmazonLinux+" (cached") || !strings.Contains(errs, "(cached); ") {
		t.Errorf("-v does not say the name and the user were cached:\n%s", errs)
	}
}

// TestStartupStaleCachedName checks that a cached name whose instance no
// longer answers is looked up again, and the connection made to the
// instance that has the name now.
func TestStartupStaleCachedName(t *testing.T) {
	e := newEnv(t)
	callsOf(t, e, "ec2-user@web-al2023", "echo ok")
	fleet := e.s.Fleet()
	if err := fleet.Update(ssmtest.InstanceAmazonLinux, func(in *ssmtest.Instance) { in.Name = "retired" }); err != nil {
		t.Fatal(err)
	}
	if err := fleet.SetState(ssmtest.InstanceAmazonLinux, ssmtest.StateStopped); err != nil {
		t.Fatal(err)
	}
	if err := fleet.Update(ssmtest.InstanceUbuntu, func(in *ssmtest.Instance) { in.Name = "web-al2023" }); err != nil {
		t.Fatal(err)
	}
	calls, errs := callsOf(t, e, "-v", "ec2-user@web-al2023", "echo ok")
	if !strings.Contains(errs, "cached as "+ssmtest.InstanceAmazonLinux+", does not answer: looking it up again") ||
		!strings.Contains(errs, "web-al2023 is "+ssmtest.InstanceUbuntu+" (EC2 DescribeInstances") {
		t.Errorf("-v does not tell the stale entry and the new lookup:\n%s", errs)
	}
	if calls["ssm StartSession"] != 2 {
		t.Errorf("StartSession calls: %v", calls)
	}
	calls, _ = callsOf(t, e, "ec2-user@web-al2023", "echo ok")
	if n := ec2Calls(calls); n != 0 || calls["ssm StartSession"] != 1 {
		t.Errorf("after the new lookup, the cache was not updated: %v", calls)
	}
}
