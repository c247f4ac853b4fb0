package cli

import (
	"os"
	"strings"
	"testing"

	"github.com/ssmssh/ssmssh/ssmtest"
)

// TestNameTagKnownHostsByID reaches an instance by its Name tag with the
// .ssm suffix, quietly: the host key is filed under the instance id and
// -q keeps the "Permanently added" warning off stderr.
func TestNameTagKnownHostsByID(t *testing.T) {
	e := newEnv(t)
	code, out, errs := run(t, e.args("-q", "app-ubuntu.ssm", "echo hi")...)
	if code != 0 || out != "hi\n" {
		t.Fatalf("exit %d, stdout %q; stderr:\n%s", code, out, errs)
	}
	if errs != "" {
		t.Errorf("stderr with -q: %q", errs)
	}
	kh, err := os.ReadFile(e.knownHosts)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(kh), ssmtest.InstanceUbuntu+" ") {
		t.Errorf("known_hosts not keyed by the instance id:\n%s", kh)
	}
}
