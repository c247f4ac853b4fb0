package cli

import (
	"slices"
	"strings"
	"testing"

	"github.com/ssmssh/ssmssh/internal/e2etest"
)

func TestSplitDestination(t *testing.T) {
	for _, tc := range []struct{ arg, dest, path string }{
		{"i-0123", "i-0123", ""},
		{"ec2-user@i-0123", "ec2-user@i-0123", ""},
		{"i-0123:", "i-0123", ""},
		{"i-0123:/var/log", "i-0123", "/var/log"},
		{"me@web:dir/with:colon", "me@web", "dir/with:colon"},
		{"a@b@host:x", "a@b@host", "x"},
		{"[fe80::1]:/tmp", "fe80::1", "/tmp"},
		{"u@[fe80::1]", "u@fe80::1", ""},
	} {
		dest, path, err := splitDestination(tc.arg)
		if err != nil || dest != tc.dest || path != tc.path {
			t.Errorf("splitDestination(%q) = %q, %q, %v; want %q, %q", tc.arg, dest, path, err, tc.dest, tc.path)
		}
	}
	for _, bad := range []string{"", ":path", "user@", "[fe80::1", "[fe80::1]x"} {
		if _, _, err := splitDestination(bad); err == nil {
			t.Errorf("splitDestination(%q): no error", bad)
		}
	}
}

func TestParseFlags(t *testing.T) {
	var errb e2etest.Buffer
	c := &SFTP{Stderr: &errb}
	o, _, ok := c.parse([]string{"-qrb", "cmds", "-P2222", "-i", "key", "-o", "User=x", "--profile", "dev", "u@i-1:/srv"})
	if !ok {
		t.Fatalf("parse failed: %s", errb.String())
	}
	if !o.quiet || !o.recursive || o.batchFile != "cmds" || !o.batch || o.profile != "dev" || o.destination != "u@i-1" || o.path != "/srv" {
		t.Errorf("options %+v", o)
	}
	want := []string{"Port=2222", "IdentityFile=key", "User=x", "BatchMode=yes"}
	if !slices.Equal(o.settings, want) {
		t.Errorf("settings %q, want %q", o.settings, want)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"a", "b"}, {"-Z", "host"}, {"[x"}} {
		var errb e2etest.Buffer
		c := &SFTP{Stderr: &errb}
		if code := c.Main(t.Context(), args); code != ExitUsage {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
		if !strings.Contains(errb.String(), "ssmsftp") {
			t.Errorf("%q: stderr %q", args, errb.String())
		}
	}
}
