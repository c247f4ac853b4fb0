package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ssmssh/ssmssh/internal/e2etest"
)

func TestMain(m *testing.M) { e2etest.Main(m) }

// env is e2etest's emulator and sshd, the test's environment set to
// theirs, and a local and a remote directory (the "remote" one is on
// this machine too: sshd serves it).
type env struct {
	*e2etest.Env
	local, remote string
}

func newEnv(t *testing.T, opts e2etest.Options) *env {
	t.Helper()
	e := e2etest.Start(t, opts)
	for _, kv := range e.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("SSH_AUTH_SOCK", "")
	root := t.TempDir()
	en := &env{Env: e, local: filepath.Join(root, "local"), remote: filepath.Join(root, "remote")}
	for _, d := range []string{en.local, en.remote} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return en
}

// args are the options that log in to sshd (user, key, known_hosts), then
// extra.
func (e *env) args(extra ...string) []string {
	args := []string{"-F", "none"}
	opts := e.LoginOptions()
	for i := 0; i+1 < len(opts); i += 2 {
		switch k, _, _ := strings.Cut(opts[i+1], "="); k {
		case "User", "IdentityFile", "IdentitiesOnly", "UserKnownHostsFile", "StrictHostKeyChecking", "BatchMode", "ConnectTimeout":
			args = append(args, "-o", opts[i+1])
		}
	}
	return append(append(args, "-o", "IdentityAgent=none"), extra...)
}

// target is the instance with the remote directory as the initial path.
func (e *env) target() string { return e.Instance + ":" + e.remote }

// result is what a run of Main gave.
type result struct {
	code           int
	stdout, stderr string
}

// run runs Main in-process with stdin (may be nil) and the working
// directory as the local directory.
func (e *env) run(t *testing.T, stdin *os.File, args ...string) result {
	t.Helper()
	t.Chdir(e.local)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var out, errb e2etest.Buffer
	c := &SFTP{Stdin: stdin, Stdout: &out, Stderr: &errb}
	code := c.Main(ctx, args)
	return result{code, out.String(), errb.String()}
}

// batchFile writes script to a file and returns its name.
func batchFile(t *testing.T, script string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "batch")
	if err := os.WriteFile(name, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

// waitFor polls b until it contains want or the deadline passes.
func waitFor(t *testing.T, b *e2etest.Buffer, want string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(b.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in:\n%s", want, b.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
