package cli

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ssmssh/ssmssh/internal/e2etest"
	"github.com/ssmssh/ssmssh/internal/sshdtest"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// TestBatchRemoteCommands: mkdir, cd, ls, rename, chmod, rm and rmdir in
// a batch against OpenSSH's sftp server leave their effects on its disk,
// and its terse failures are told apart (exists, not empty).
func TestBatchRemoteCommands(t *testing.T) {
	e := newEnv(t, e2etest.Options{})
	if err := os.WriteFile(filepath.Join(e.remote, "data.txt"), []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"x.log", "y.log", ".keep.log"} {
		if err := os.WriteFile(filepath.Join(e.remote, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	script := `mkdir sub
-mkdir sub
cd sub
mkdir "with space"
rename ../data.txt 'with space/moved.txt'
chmod 600 "with space/moved.txt"
ls -l with\ space
-rmdir "with space"
mkdir gone
rmdir gone
cd ..
rm *.log
ls -1
`
	r := e.run(t, nil, e.args("-b", batchFile(t, script), e.target())...)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	moved := filepath.Join(e.remote, "sub/with space/moved.txt")
	if fi, err := os.Stat(moved); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("rename and chmod 600: %v, %v", fi, err)
	}
	for name, want := range map[string]bool{"data.txt": false, "x.log": false, "y.log": false, ".keep.log": true, "sub/gone": false} {
		if _, err := os.Lstat(filepath.Join(e.remote, name)); (err == nil) != want {
			t.Errorf("%s exists: %v, want %v", name, err == nil, want)
		}
	}
	long := regexp.MustCompile(`(?m)^-rw------- \d+ +\d+ +10 \w{3} [ \d]\d \d\d:\d\d with space/moved\.txt$`)
	if !long.MatchString(r.stdout) {
		t.Errorf("ls -l:\n%s", r.stdout)
	}
	if !strings.HasSuffix(r.stdout, "sftp> ls -1\nsub\n") {
		t.Errorf("the last ls -1 does not list just sub:\n%s", r.stdout)
	}
	sub := filepath.Join(e.remote, "sub")
	want := `mkdir: remote path "` + sub + "\": file exists\n" +
		`rmdir: remote path "` + filepath.Join(sub, "with space") + "\": directory not empty\n"
	if r.stderr != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", r.stderr, want)
	}
	// Without -N a batch is quiet about what each command does.
	if strings.Contains(r.stdout, "Removing") || strings.Contains(r.stdout, "Changing mode") {
		t.Errorf("a batch without -N says what it does:\n%s", r.stdout)
	}
}

// TestBatchAbortsOnFailure: the first failing line not starting with '-'
// ends the batch with status 1 and a message naming the file, the line
// and the cause; the lines after it do not run.
func TestBatchAbortsOnFailure(t *testing.T) {
	e := newEnv(t, e2etest.Options{})
	file := batchFile(t, "mkdir before\nrm missing.txt\nmkdir after\n")
	r := e.run(t, nil, e.args("-b", file, e.target())...)
	if r.code != ExitFailed {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	want := "ssmsftp: " + file + `: line 2: rm: remote path "` + filepath.Join(e.remote, "missing.txt") + "\": no such file\n"
	if r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
	if _, err := os.Stat(filepath.Join(e.remote, "before")); err != nil {
		t.Errorf("line 1 did not run: %v", err)
	}
	if _, err := os.Stat(filepath.Join(e.remote, "after")); !os.IsNotExist(err) {
		t.Errorf("line 3 ran after the failure (%v)", err)
	}
	if strings.Contains(r.stdout, "mkdir after") {
		t.Errorf("line 3 was echoed:\n%s", r.stdout)
	}
}

// TestPermissionDeniedFromServer: OpenSSH's sftp server in read-only mode
// refuses writes, and the batch says so and stops.
func TestPermissionDeniedFromServer(t *testing.T) {
	e := newEnv(t, e2etest.Options{Sshd: sshdtest.Options{
		ExtraConfig: []string{"Match all", "ForceCommand internal-sftp -R"},
	}})
	f, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_, _ = w.WriteString("ls\nmkdir denied\n")
		w.Close()
	}()
	t.Cleanup(func() { f.Close() })
	r := e.run(t, f, e.args("-b", "-", e.target())...)
	if r.code != ExitFailed {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	want := `ssmsftp: standard input: line 2: mkdir: remote path "` + filepath.Join(e.remote, "denied") + "\": permission denied\n"
	if r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
	if _, err := os.Stat(filepath.Join(e.remote, "denied")); !os.IsNotExist(err) {
		t.Errorf("the read-only server made the directory (%v)", err)
	}
}

// TestConnectionFailure: an instance that does not exist is a connection
// error, 255, with one line saying so.
func TestConnectionFailure(t *testing.T) {
	e := newEnv(t, e2etest.Options{})
	r := e.run(t, nil, e.args("-b", batchFile(t, "pwd\n"), "i-0fffffffffffffff9")...)
	if r.code != ExitConnection || r.stdout != "" {
		t.Fatalf("exit %d, stdout %q; want 255 and nothing", r.code, r.stdout)
	}
	if !strings.HasPrefix(r.stderr, "ssmsftp: ") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("want one ssmsftp: line, got:\n%s", r.stderr)
	}
}

// TestBatchSessionLostMidTransfer: the session ending during a batch's
// get is a lost connection (255), and no partial file is left.
func TestBatchSessionLostMidTransfer(t *testing.T) {
	e := newEnv(t, e2etest.Options{})
	e2etest.RandomFile(t, filepath.Join(e.remote, "big.bin"), 8<<20, 4)
	e.Server.Faults().Set(func(f *ssmtest.FaultSet) { f.BandwidthBytesPerSec = 1 << 20 })
	t.Chdir(e.local)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var out, errb e2etest.Buffer
	done := make(chan int, 1)
	go func() {
		c := &SFTP{Stdout: &out, Stderr: &errb}
		done <- c.Main(ctx, e.args("-b", batchFile(t, "get big.bin\npwd\n"), e.target()))
	}()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			cancel()
			<-done
		}
	})
	waitFor(t, &out, "sftp> get big.bin\n", 30*time.Second)
	for _, s := range e.Server.Sessions().All() {
		if err := e.Server.Sessions().Terminate(s.ID, "terminated by the test"); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case code := <-done:
		stopped = true
		want := "ssmsftp: connection lost: the session ended: terminated by the test\n"
		if code != ExitConnection || errb.String() != want {
			t.Errorf("exit %d, stderr %q; want 255, %q", code, errb.String(), want)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Main did not return after the session ended")
	}
	if strings.Contains(out.String(), "sftp> pwd") {
		t.Errorf("the batch went on:\n%s", out.String())
	}
	if _, err := os.Stat(filepath.Join(e.local, "big.bin")); !os.IsNotExist(err) {
		t.Errorf("a partial big.bin was left (%v)", err)
	}
}
