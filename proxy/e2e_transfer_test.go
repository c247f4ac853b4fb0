package proxy_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssmssh/ssmssh/internal/e2etest"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// transferSize is what the scp tests move each way, through the unpaced
// emulator (e2etest's default): at the real agent's pace it would take
// more than a minute.
const transferSize = 64 << 20

// scpCmd returns the real scp through ssmproxy with args after the
// options.
func scpCmd(e *e2etest.Env, args ...string) *exec.Cmd {
	return e.Command("scp", append(e.SSHOptions(), args...)...)
}

// transfer is one file to copy with scp and its expected content.
type transfer struct {
	name     string
	from, to string // scp arguments
	src, dst string // local paths of the source and the copy
	sum      string // the source's SHA-256
}

// scpBothWays copies a transferSize file up and another down at the same
// time, each with its own scp (and so its own ssmproxy and session), and
// checks that each copy has the source's SHA-256. It returns the scp
// processes' stderr for the caller's checks.
func scpBothWays(t *testing.T, e *e2etest.Env, seed uint64) (upErr, downErr string) {
	t.Helper()
	local, remote := filepath.Join(e.Dir, "local"), filepath.Join(e.Dir, "remote")
	for _, d := range []string{local, remote} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	host := e.Instance + ":"
	up := transfer{name: "up", src: filepath.Join(local, fmt.Sprint("up-", seed)), dst: filepath.Join(remote, fmt.Sprint("up-", seed))}
	up.from, up.to = up.src, host+up.dst
	down := transfer{name: "down", src: filepath.Join(remote, fmt.Sprint("down-", seed)), dst: filepath.Join(local, fmt.Sprint("down-", seed))}
	down.from, down.to = host+down.src, down.dst
	up.sum = e2etest.RandomFile(t, up.src, transferSize, seed)
	down.sum = e2etest.RandomFile(t, down.src, transferSize, seed+1)

	var wg sync.WaitGroup
	procs := make([]*e2etest.Proc, 2)
	took := make([]time.Duration, 2)
	for i, tr := range []transfer{up, down} {
		procs[i] = e2etest.StartProc(t, scpCmd(e, "-q", tr.from, tr.to))
		wg.Add(1)
		start := time.Now()
		go func() {
			defer wg.Done()
			<-procs[i].Done()
			took[i] = time.Since(start)
		}()
	}
	wg.Wait()
	for i, tr := range []transfer{up, down} {
		procs[i].Wait(t, e2etest.DefaultTimeout)
		if code := procs[i].Cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("scp %s exited %d: %s", tr.name, code, procs[i].Stderr())
			continue
		}
		if got := e2etest.FileSHA256(t, tr.dst); got != tr.sum {
			t.Errorf("scp %s: the copy has SHA-256 %s, the source %s", tr.name, got, tr.sum)
		}
		t.Logf("scp %s: %d MiB in %v (%.1f MiB/s, both directions at once)", tr.name, transferSize>>20,
			took[i].Round(time.Millisecond), float64(transferSize)/(1<<20)/took[i].Seconds())
	}
	return procs[0].Stderr(), procs[1].Stderr()
}

// TestOpenSSHScpLarge copies 64 MiB up and 64 MiB down with the real scp
// through ssmproxy, at the same time, and compares SHA-256 digests.
func TestOpenSSHScpLarge(t *testing.T) {
	e2etest.RequireTools(t, "scp")
	e := e2etest.Start(t, e2etest.Options{})
	scpBothWays(t, e, 1)
	waitSessionsEnded(t, e.Server, 2)
}

// TestOpenSSHScpSurvivesWebsocketKills is TestOpenSSHScpLarge while the
// emulator kills the client's data-channel websocket three times in each
// session, mid-stream: ssmproxy resumes the session each time (new token,
// unacknowledged data replayed) and neither scp nor sshd notices.
func TestOpenSSHScpSurvivesWebsocketKills(t *testing.T) {
	e2etest.RequireTools(t, "scp")
	e := e2etest.Start(t, e2etest.Options{ProxyArgs: []string{"-v"}})
	// Uploads send the client only acknowledgements (about a quarter of the
	// data), so the threshold is low enough for both directions to be cut
	// three times well before the end.
	e.Server.Faults().Set(func(f *ssmtest.FaultSet) {
		f.KillClientWebsocketAfterBytes = 4 << 20
		f.KillClientWebsocketTimes = 3
	})
	upErr, downErr := scpBothWays(t, e, 10)
	if n := e.Log.Count("fault: killing the client websocket"); n != 6 {
		t.Errorf("the emulator killed the client websocket %d times, want 3 in each of 2 sessions", n)
	}
	for name, stderr := range map[string]string{"up": upErr, "down": downErr} {
		if n := strings.Count(stderr, "data channel dropped; resuming"); n != 3 {
			t.Errorf("scp %s: ssmproxy resumed %d times, want 3; its stderr:\n%s", name, n, stderr)
		}
	}
	waitSessionsEnded(t, e.Server, 2)
}

// TestOpenSSHTrees copies directory trees with the real scp -r, rsync -e
// ssh and sftp -b through ssmproxy, up and down, and compares them file by
// file.
func TestOpenSSHTrees(t *testing.T) {
	e2etest.RequireTools(t, "scp", "sftp", "rsync")
	e := e2etest.Start(t, e2etest.Options{})
	src := filepath.Join(e.Dir, "src")
	nfiles := e2etest.Tree(t, src, 100)
	host := e.Instance + ":"
	sessions := 0
	run := func(t *testing.T, name string, args ...string) {
		t.Helper()
		sessions++
		e2etest.RunProc(t, e.Command(name, args...)).MustSucceed(t)
	}

	t.Run("scp-r", func(t *testing.T) {
		up, down := filepath.Join(e.Dir, "scp-up"), filepath.Join(e.Dir, "scp-down")
		run(t, "scp", append(e.SSHOptions(), "-q", "-r", src, host+up)...)
		e2etest.CompareTrees(t, src, up)
		run(t, "scp", append(e.SSHOptions(), "-q", "-r", host+up, down)...)
		e2etest.CompareTrees(t, src, down)
	})

	t.Run("rsync", func(t *testing.T) {
		shell := e2etest.RsyncShell(e.SSHOptions())
		up, down := filepath.Join(e.Dir, "rsync-up"), filepath.Join(e.Dir, "rsync-down")
		run(t, "rsync", "-a", "-e", shell, src+"/", host+up+"/")
		e2etest.CompareTrees(t, src, up)
		// A second run after a change sends the difference (rsync's delta
		// algorithm over both directions of the session) and deletes what
		// went away.
		e2etest.RandomFile(t, filepath.Join(src, "a/b/c/deep.bin"), 70_000, 999)
		if err := os.Remove(filepath.Join(src, "many/3.txt")); err != nil {
			t.Fatal(err)
		}
		run(t, "rsync", "-a", "--delete", "-e", shell, src+"/", host+up+"/")
		e2etest.CompareTrees(t, src, up)
		run(t, "rsync", "-a", "-e", shell, host+up+"/", down+"/")
		e2etest.CompareTrees(t, src, down)
	})

	t.Run("sftp-b", func(t *testing.T) {
		remote, back := filepath.Join(e.Dir, "sftp-remote"), filepath.Join(e.Dir, "sftp-back")
		for _, d := range []string{remote, back} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		big := filepath.Join(src, "big/one-mebibyte.bin")
		batch := strings.Join([]string{
			"cd " + remote,
			"put " + big + " uploaded.bin",
			"put -r " + src + " tree",
			"rename uploaded.bin renamed.bin",
			"mkdir made",
			"ls -l",
			"get renamed.bin " + filepath.Join(back, "renamed.bin"),
			"get -r tree " + filepath.Join(back, "tree"),
			"rm renamed.bin",
			"rmdir made",
		}, "\n") + "\n"
		batchFile := filepath.Join(e.Dir, "sftp-batch")
		if err := os.WriteFile(batchFile, []byte(batch), 0o600); err != nil {
			t.Fatal(err)
		}
		sessions++
		p := e2etest.RunProc(t, e.Command("sftp", append(e.SSHOptions(), "-b", batchFile, e.Instance)...))
		p.MustSucceed(t)
		if !strings.Contains(p.Stdout(), "renamed.bin") {
			t.Errorf("sftp ls did not list renamed.bin:\n%s", p.Stdout())
		}
		if got, want := e2etest.FileSHA256(t, filepath.Join(back, "renamed.bin")), e2etest.FileSHA256(t, big); got != want {
			t.Errorf("sftp put then get: SHA-256 %s, want %s", got, want)
		}
		e2etest.CompareTrees(t, src, filepath.Join(remote, "tree"))
		e2etest.CompareTrees(t, src, filepath.Join(back, "tree"))
		for _, gone := range []string{"renamed.bin", "made"} {
			if _, err := os.Stat(filepath.Join(remote, gone)); err == nil {
				t.Errorf("%s still exists after sftp rm/rmdir", gone)
			}
		}
	})
	t.Logf("%d files in the tree, %d sessions", nfiles, sessions)
	waitSessionsEnded(t, e.Server, sessions)
}
