package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPartialFailure: a missing remote file and a directory the remote
// user cannot write each give one "ssmscp: path: reason" line and exit
// 1, and the other files are copied.
func TestPartialFailure(t *testing.T) {
	e := start(t)
	remote := filepath.Join(e.Dir, "remote")
	write(t, filepath.Join(remote, "a"), "A")
	write(t, filepath.Join(remote, "b"), "B")
	ro := filepath.Join(e.Dir, "ro")
	unwritable(t, ro)
	for _, mode := range []string{"sftp", "legacy"} {
		t.Run(mode, func(t *testing.T) {
			var flags []string
			if mode == "legacy" {
				flags = []string{"-O"}
			}
			local := mkdir(t, filepath.Join(e.Dir, mode))
			missing := filepath.Join(remote, "missing")
			code, _, errs := run(t, e.args(append(flags,
				e.remote(filepath.Join(remote, "a")), e.remote(missing), e.remote(filepath.Join(remote, "b")), local)...)...)
			want := "ssmscp: " + missing + ": No such file or directory\n"
			if code != 1 || errs != want {
				t.Errorf("download: exit %d, stderr %q; want 1 and %q", code, errs, want)
			}
			if read(t, filepath.Join(local, "a")) != "A" || read(t, filepath.Join(local, "b")) != "B" {
				t.Error("download: the other files were not copied")
			}
			if _, err := os.Stat(filepath.Join(local, "missing")); err == nil {
				t.Error("download: a file for the missing source")
			}

			code, _, errs = run(t, e.args(append(flags, filepath.Join(local, "a"), e.remote(ro))...)...)
			if code != 1 || !strings.HasPrefix(errs, "ssmscp: "+filepath.Join(ro, "a")+": ") ||
				!strings.Contains(errs, "Permission denied") && !strings.Contains(errs, "Operation not permitted") ||
				strings.Count(errs, "\n") != 1 {
				t.Errorf("upload: exit %d, stderr %q; want 1 and one line about %s", code, errs, filepath.Join(ro, "a"))
			}
		})
	}
}

// TestMissingRemoteDirectory: -r of a missing directory, and a glob that
// matches nothing.
func TestMissingRemote(t *testing.T) {
	e := start(t)
	local := mkdir(t, filepath.Join(e.Dir, "local"))
	for _, mode := range []string{"sftp", "legacy"} {
		t.Run(mode, func(t *testing.T) {
			flags := []string{"-r"}
			if mode == "legacy" {
				flags = []string{"-rO"}
			}
			nope := filepath.Join(e.Dir, "nope")
			code, _, errs := run(t, e.args(append(flags, e.remote(nope+"/*.txt"), local)...)...)
			if code != 1 || errs != "ssmscp: "+nope+"/*.txt: No such file or directory\n" {
				t.Errorf("exit %d, stderr %q", code, errs)
			}
		})
	}
}

func TestConnectionFailure(t *testing.T) {
	e := start(t)
	code, _, errs := run(t, e.args("i-0fffffffffffffff9:/etc/hostname", e.Dir)...)
	if code != 255 || !strings.HasPrefix(errs, "ssmscp: ") || strings.Count(errs, "\n") != 1 {
		t.Errorf("exit %d, stderr %q; want 255 and one ssmscp: line", code, errs)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"only-one"},
		{"-x", "a", "h:b"},
		{"-P"},
		{"a", "b"},
		{"a", ":b"},
		{"a", "user@:b"},
	} {
		code, _, errs := run(t, args...)
		if code != 2 || errs == "" {
			t.Errorf("ssmscp %q: exit %d, stderr %q; want 2 and a message", args, code, errs)
		}
	}
}

func TestRemoteToRemoteRefused(t *testing.T) {
	code, _, errs := run(t, "h1:a", "h2:b")
	if code != 1 || !strings.Contains(errs, "between remote hosts") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
}
