package scp

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/ssmssh/ssmssh/internal/sshdtest"
)

// peer is a real OpenSSH sshd (with its sftp-server and the system's
// scp) on loopback, logged in to.
type peer struct {
	ssh  *ssh.Client
	sftp *sftp.Client
}

func newPeer(t *testing.T) *peer {
	t.Helper()
	if _, err := os.Stat("/usr/bin/scp"); err != nil {
		t.Skip("scp is not installed")
	}
	d := sshdtest.Start(t, sshdtest.Options{})
	c := d.Dial(t)
	sc, err := sftp.NewClient(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close() })
	return &peer{ssh: c, sftp: sc}
}

// mode is one of the two protocols.
type mode struct {
	name     string
	upload   func(ctx context.Context, srcs []string, dst string, o Options) error
	download func(ctx context.Context, srcs []string, dst string, o Options) error
}

func (p *peer) modes() []mode {
	return []mode{
		{"sftp",
			func(ctx context.Context, s []string, d string, o Options) error { return Upload(ctx, p.sftp, s, d, o) },
			func(ctx context.Context, s []string, d string, o Options) error {
				return Download(ctx, p.sftp, s, d, o)
			}},
		{"legacy",
			func(ctx context.Context, s []string, d string, o Options) error {
				return UploadSCP(ctx, p.ssh, s, d, o)
			},
			func(ctx context.Context, s []string, d string, o Options) error {
				return DownloadSCP(ctx, p.ssh, s, d, o)
			}},
	}
}

// testCtx bounds a test's transfers.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// fileErrors returns the FileErrors of err, failing the test when err is
// something else.
func fileErrors(t *testing.T, err error) []*FileError {
	t.Helper()
	var es *Errors
	if !errors.As(err, &es) {
		t.Fatalf("error %v (%T), want *Errors", err, err)
	}
	return es.Files
}

// write creates path with content, and its directory.
func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// hasMessage reports whether some FileError's message contains all of
// subs.
func hasMessage(errs []*FileError, subs ...string) bool {
	for _, e := range errs {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(e.Message(), s)
		}
		if ok {
			return true
		}
	}
	return false
}
