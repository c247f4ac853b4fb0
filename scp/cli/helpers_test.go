package cli

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ssmssh/ssmssh/internal/e2etest"
)

// env is the emulator with a real sshd behind its instance, the AWS
// variables of this process pointing at it.
type env struct {
	*e2etest.Env
	// binary is the built ssmscp.
	binary string
}

func start(t testing.TB) *env {
	t.Helper()
	e := e2etest.Start(t, e2etest.Options{})
	// Built before HOME changes, which would move go's build cache.
	binary := e2etest.CommandBinary(t, "ssmscp")
	for _, kv := range e.Environ() {
		if k, v, _ := strings.Cut(kv, "="); k != "PATH" {
			t.Setenv(k, v)
		}
	}
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("SSH_AUTH_SOCK", "")
	return &env{Env: e, binary: binary}
}

// args are the options that log in to sshd (e2etest's, those ssmscp
// takes), then extra.
func (e *env) args(extra ...string) []string {
	args := []string{"-F", "none"}
	opts := e.LoginOptions()
	for i := 0; i+1 < len(opts); i += 2 {
		switch k, _, _ := strings.Cut(opts[i+1], "="); k {
		case "User", "IdentityFile", "IdentitiesOnly", "IdentityAgent", "UserKnownHostsFile", "StrictHostKeyChecking", "BatchMode", "ConnectTimeout":
			args = append(args, "-o", opts[i+1])
		}
	}
	return append(args, extra...)
}

// remote is the instance's path p as an operand.
func (e *env) remote(p string) string { return e.Instance + ":" + p }

// run runs ssmscp in this process.
func run(t testing.TB, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb e2etest.Buffer
	c := &SCP{Stdout: &out, Stderr: &errb}
	code = c.Main(ctx, args)
	return code, out.String(), errb.String()
}

// runBinary runs the built ssmscp (without the race detector: the
// emulator in this process is checked, and a race-built transfer of
// 64 MiB takes long).
func (e *env) runBinary(t testing.TB, args ...string) *e2etest.Proc {
	t.Helper()
	cmd := e.Command(e.binary, args...)
	return e2etest.RunProc(t, cmd)
}

// write creates path with content, and its directory.
func write(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mkdir(t testing.TB, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// fsImmutableFL is FS_IMMUTABLE_FL of linux/fs.h.
const fsImmutableFL = 0x10

// unwritable makes dir a directory in which sshd's user cannot create
// files: mode 0555, and for root (sshdtest runs sshd as the current
// user, and modes do not stop root) the immutable attribute, removed in
// t.Cleanup.
func unwritable(t *testing.T, dir string) {
	t.Helper()
	mkdir(t, dir)
	if os.Geteuid() != 0 {
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
		return
	}
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err == nil {
		err = unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, int(flags|fsImmutableFL))
	}
	if err != nil {
		t.Skipf("cannot make %s immutable: %v", dir, err)
	}
	t.Cleanup(func() {
		f, err := os.Open(dir)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		if err := unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, int(flags&^fsImmutableFL)); err != nil {
			t.Errorf("clear the immutable flag of %s: %v", dir, err)
		}
	})
	if err := os.WriteFile(filepath.Join(dir, "probe"), nil, 0o644); !errors.Is(err, fs.ErrPermission) {
		t.Skipf("%s is still writable (%v)", dir, err)
	}
}
