package cli

import (
	"net"
	"strings"
	"testing"

	"github.com/ssmssh/ssmssh/ssmtest"
)

// TestForwardBindFailsWithN: with -N a forwarding that cannot listen is
// fatal, reported on one line with exit 255.
func TestForwardBindFailsWithN(t *testing.T) {
	e := newEnv(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() })
	spec := busy.Addr().String() + ":127.0.0.1:9"
	code, _, errs := run(t, e.args("-q", "-N", "-L", spec, "ec2-user@"+ssmtest.InstanceAmazonLinux)...)
	if code != 255 {
		t.Fatalf("exit %d, want 255; stderr:\n%s", code, errs)
	}
	if !strings.HasPrefix(errs, "ssmssh: ") || strings.Count(errs, "\n") != 1 {
		t.Errorf("want one ssmssh: line, got:\n%s", errs)
	}
}
