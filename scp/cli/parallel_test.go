package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ssmssh/ssmssh/internal/e2etest"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// TestParallelRangeCopy copies 64 MiB up and back down over four
// sessions (the built ssmscp, unpaced): the same SHA-256 each way, and
// three sessions beyond the first joined.
func TestParallelRangeCopy(t *testing.T) {
	e := start(t)
	src := filepath.Join(e.Dir, "big.bin")
	sum := e2etest.RandomFile(t, src, bigSize, 41)
	dir := mkdir(t, filepath.Join(e.Dir, "remote"))
	for _, dir2 := range []struct{ name, from, to string }{
		{"up", src, e.remote(filepath.Join(dir, "up.bin"))},
		{"down", e.remote(filepath.Join(dir, "up.bin")), filepath.Join(e.Dir, "down.bin")},
	} {
		before := len(e.Server.Sessions().All())
		p := e.runBinary(t, e.args("-v", "--sessions", "4", dir2.from, dir2.to)...)
		p.MustSucceed(t)
		check := dir2.to
		if dir2.name == "up" {
			check = filepath.Join(dir, "up.bin")
		}
		if got := e2etest.FileSHA256(t, check); got != sum {
			t.Fatalf("%s: the copy differs", dir2.name)
		}
		if n := strings.Count(p.Stderr(), "joins the copy"); n != 3 {
			t.Errorf("%s: %d sessions joined, want 3:\n%s", dir2.name, n, p.Stderr())
		}
		if n := len(e.Server.Sessions().All()) - before; n != 4 {
			t.Errorf("%s: %d sessions started, want 4", dir2.name, n)
		}
	}
}

// TestParallelSmallCopyOneSession checks that a copy too small to gain
// from more sessions starts only one.
func TestParallelSmallCopyOneSession(t *testing.T) {
	e := start(t)
	src := filepath.Join(e.Dir, "small.bin")
	sum := e2etest.RandomFile(t, src, 1<<20, 42)
	before := len(e.Server.Sessions().All())
	code, _, errs := run(t, e.args("--sessions", "8", src, e.remote(filepath.Join(e.Dir, "copy.bin")))...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	if e2etest.FileSHA256(t, filepath.Join(e.Dir, "copy.bin")) != sum {
		t.Fatal("the copy differs")
	}
	if n := len(e.Server.Sessions().All()) - before; n != 1 {
		t.Errorf("%d sessions for 1 MiB, want 1", n)
	}
}

// TestParallelSessionsLost copies 64 MiB down and up over four sessions
// while one session's websocket is killed (and resumed) and one session
// is terminated mid-copy: the copy is still complete and equal, the
// terminated session's ranges taken over by the others.
func TestParallelSessionsLost(t *testing.T) {
	e := start(t)
	src := filepath.Join(e.Dir, "big.bin")
	sum := e2etest.RandomFile(t, src, bigSize, 43)
	remote := mkdir(t, filepath.Join(e.Dir, "remote"))
	if err := os.Link(src, filepath.Join(remote, "down.bin")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, from, to, check string }{
		{"down", e.remote(filepath.Join(remote, "down.bin")), filepath.Join(e.Dir, "down.bin"), filepath.Join(e.Dir, "down.bin")},
		{"up", src, e.remote(filepath.Join(remote, "up.bin")), filepath.Join(remote, "up.bin")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kill := int64(8 << 20)
			if tc.name == "up" {
				kill = 64 << 10 // what flows to the client of an upload: SFTP's answers
			}
			e.Server.Faults().Set(func(f *ssmtest.FaultSet) {
				f.KillClientWebsocketAfterBytes, f.KillClientWebsocketTimes = kill, 1
			})
			defer e.Server.Faults().Set(func(f *ssmtest.FaultSet) {
				f.KillClientWebsocketAfterBytes, f.KillClientWebsocketTimes = 0, 0
			})
			before := len(e.Server.Sessions().All())
			p := e2etest.StartProc(t, e.Command(e.binary, e.args("-v", "--sessions", "4", tc.from, tc.to)...))
			// Terminate the first session once all four copy and a
			// quarter of the bytes are there.
			deadline := time.Now().Add(time.Minute)
			for {
				all := e.Server.Sessions().All()[before:]
				fi, err := os.Stat(tc.check)
				if len(all) == 4 && err == nil && fi.Size() > bigSize/4 {
					if err := e.Server.Sessions().Terminate(all[0].ID, ssmtest.ReasonTerminated); err != nil {
						t.Fatal(err)
					}
					break
				}
				select {
				case <-p.Done():
					t.Fatalf("ssmscp ended before a session could be terminated:\n%s", p.Stderr())
				case <-time.After(5 * time.Millisecond):
				}
				if time.Now().After(deadline) {
					t.Fatal("the copy did not reach four sessions")
				}
			}
			if code := p.Wait(t, 2*time.Minute); code != 0 {
				t.Fatalf("exit %d\n%s", code, p.Stderr())
			}
			if got := e2etest.FileSHA256(t, tc.check); got != sum {
				t.Fatal("the copy differs")
			}
			if !strings.Contains(p.Stderr(), "connection 1 lost") {
				t.Errorf("-v does not tell the lost session:\n%s", p.Stderr())
			}
			if !strings.Contains(p.Stderr(), "data channel dropped; resuming") {
				t.Errorf("no websocket was killed and resumed:\n%s", p.Stderr())
			}
		})
	}
}

// TestParallelSessionRefused checks that a session refused at start
// (TargetNotConnected for the second) leaves the copy to the others, with
// a note at -v.
func TestParallelSessionRefused(t *testing.T) {
	e := start(t)
	src := filepath.Join(e.Dir, "big.bin")
	sum := e2etest.RandomFile(t, src, 32<<20, 44)
	e.Server.Faults().Set(func(f *ssmtest.FaultSet) { f.RefuseStartSessionsAfter, f.RefuseStartSessions = 1, 1 })
	code, _, errs := run(t, e.args("-v", "--sessions", "4", src, e.remote(filepath.Join(e.Dir, "copy.bin")))...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	if e2etest.FileSHA256(t, filepath.Join(e.Dir, "copy.bin")) != sum {
		t.Fatal("the copy differs")
	}
	if !strings.Contains(errs, "could not start, going on with") || !strings.Contains(errs, "not connected") {
		t.Errorf("-v does not note the refused session:\n%s", errs)
	}
	if n := strings.Count(errs, "joins the copy"); n != 2 {
		t.Errorf("%d sessions joined, want 2:\n%s", n, errs)
	}
}

// TestParallelTreePreserve copies a mixed tree with -r -p over four
// sessions both ways: the same files, modes and times.
func TestParallelTreePreserve(t *testing.T) {
	e := start(t)
	local := filepath.Join(e.Dir, "tree")
	e2etest.Tree(t, local, 5)
	for i := range 3 { // enough bytes for more sessions
		e2etest.RandomFile(t, filepath.Join(local, "big", "part"+string(rune('a'+i))+".bin"), 9<<20, uint64(50+i))
	}
	setMeta(t, local)
	remote := mkdir(t, filepath.Join(e.Dir, "remote"))
	code, _, errs := run(t, e.args("-v", "-rp", "--sessions", "4", local, e.remote(remote))...)
	if code != 0 {
		t.Fatalf("upload: exit %d\n%s", code, errs)
	}
	if !strings.Contains(errs, "joins the copy") {
		t.Errorf("upload: no session joined:\n%s", errs)
	}
	e2etest.CompareTrees(t, local, filepath.Join(remote, "tree"))
	sameMeta(t, local, filepath.Join(remote, "tree"))
	back := filepath.Join(e.Dir, "back")
	code, _, errs = run(t, e.args("-v", "-rp", "--sessions", "4", e.remote(filepath.Join(remote, "tree")), back)...)
	if code != 0 {
		t.Fatalf("download: exit %d\n%s", code, errs)
	}
	if !strings.Contains(errs, "joins the copy") {
		t.Errorf("download: no session joined:\n%s", errs)
	}
	e2etest.CompareTrees(t, local, back)
	sameMeta(t, local, back)
}
