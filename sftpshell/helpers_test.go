package sftpshell

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"

	"github.com/ssmssh/ssmssh/internal/e2etest"
)

// fixture is a Shell talking to pkg/sftp's server over an in-memory
// pipe, the server's working directory a temporary "remote" directory.
type fixture struct {
	sh             *Shell
	remote, local  string
	stdout, stderr *e2etest.Buffer
}

// newFixture starts a server (with opts) and a Shell on it.
func newFixture(t *testing.T, opts ...sftp.ServerOption) *fixture {
	t.Helper()
	root := t.TempDir()
	f := &fixture{
		remote: filepath.Join(root, "remote"),
		local:  filepath.Join(root, "local"),
		stdout: &e2etest.Buffer{}, stderr: &e2etest.Buffer{},
	}
	for _, d := range []string{f.remote, f.local} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	a, b := net.Pipe()
	srv, err := sftp.NewServer(a, append([]sftp.ServerOption{sftp.WithServerWorkingDirectory(f.remote)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve()
	}()
	c, err := sftp.NewClientPipe(b, b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		srv.Close()
		<-served
	})
	f.sh = &Shell{Client: c, Stdout: f.stdout, Stderr: f.stderr, LocalDir: f.local, LocalHome: root}
	return f
}

// batch runs script in Batch mode and returns Run's error.
func (f *fixture) batch(t *testing.T, script string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	return f.sh.Run(ctx, Lines(strings.NewReader(script), f.stdout), Batch)
}

// mustBatch runs script and fails the test if it fails.
func (f *fixture) mustBatch(t *testing.T, script string) {
	t.Helper()
	if err := f.batch(t, script); err != nil {
		t.Fatalf("batch failed: %v\nstdout:\n%s\nstderr:\n%s", err, f.stdout, f.stderr)
	}
}

// write makes a file under dir with content.
func write(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// exists reports whether name exists (without following a final link).
func exists(name string) bool {
	_, err := os.Lstat(name)
	return err == nil
}
