//go:build !linux

package scp

import (
	"os"
	"testing"
)

// unwritable makes dir a directory in which the sshd's user cannot
// create files (mode 0555); as root, whom modes do not stop, it skips.
func unwritable(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() == 0 {
		t.Skip("root can write into any directory here")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
}
