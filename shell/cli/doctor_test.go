package cli

import (
	"bytes"
	"strings"
	"testing"
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
