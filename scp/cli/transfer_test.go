package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ssmssh/ssmssh/internal/e2etest"
)

// bigSize is the size of the large transfers the issue asks for. They run
// through the unpaced emulator (e2etest's default): at the real agent's
// pace, 64 MiB would take more than a minute each way.
const bigSize = 64 << 20

// TestBigFile copies 64 MiB up and back down, over SFTP and with -O,
// through the emulator to sshd: the same SHA-256 each way.
func TestBigFile(t *testing.T) {
	e := start(t)
	src := filepath.Join(e.Dir, "big.bin")
	sum := e2etest.RandomFile(t, src, bigSize, 64)
	for _, mode := range []struct{ name, flag string }{{"sftp", ""}, {"legacy", "-O"}} {
		t.Run(mode.name, func(t *testing.T) {
			dir := mkdir(t, filepath.Join(e.Dir, mode.name))
			flags := []string{"-q"}
			if mode.flag != "" {
				flags = append(flags, mode.flag)
			}
			began := time.Now()
			p := e.runBinary(t, e.args(append(flags, src, e.remote(filepath.Join(dir, "up.bin")))...)...)
			p.MustSucceed(t)
			if got := e2etest.FileSHA256(t, filepath.Join(dir, "up.bin")); got != sum {
				t.Fatal("uploaded file differs")
			}
			t.Logf("upload: %v", time.Since(began))
			began = time.Now()
			p = e.runBinary(t, e.args(append(flags, e.remote(filepath.Join(dir, "up.bin")), filepath.Join(dir, "down.bin"))...)...)
			p.MustSucceed(t)
			if got := e2etest.FileSHA256(t, filepath.Join(dir, "down.bin")); got != sum {
				t.Fatal("downloaded file differs")
			}
			t.Logf("download: %v", time.Since(began))
			if p.Stdout() != "" || p.Stderr() != "" {
				t.Errorf("output on a pipe with -q: stdout %q, stderr %q", p.Stdout(), p.Stderr())
			}
		})
	}
}

// TestTreePreserve copies a tree with -r -p up and back down, in both
// modes, in this process: the same files, modes and times.
func TestTreePreserve(t *testing.T) {
	e := start(t)
	local := filepath.Join(e.Dir, "tree")
	e2etest.Tree(t, local, 3)
	setMeta(t, local)
	for _, mode := range []string{"sftp", "legacy"} {
		t.Run(mode, func(t *testing.T) {
			flags := []string{"-rp"}
			if mode == "legacy" {
				flags = []string{"-Orp"}
			}
			remote := mkdir(t, filepath.Join(e.Dir, mode, "remote"))
			code, _, errs := run(t, e.args(append(flags, local, e.remote(remote))...)...)
			if code != 0 {
				t.Fatalf("upload: exit %d\n%s", code, errs)
			}
			e2etest.CompareTrees(t, local, filepath.Join(remote, "tree"))
			sameMeta(t, local, filepath.Join(remote, "tree"))

			back := filepath.Join(e.Dir, mode, "back")
			code, _, errs = run(t, e.args(append(flags, e.remote(filepath.Join(remote, "tree")), back)...)...)
			if code != 0 {
				t.Fatalf("download: exit %d\n%s", code, errs)
			}
			e2etest.CompareTrees(t, local, back)
			sameMeta(t, local, back)
		})
	}
}

// TestRemoteGlob expands a pattern on the remote side.
func TestRemoteGlob(t *testing.T) {
	e := start(t)
	remote := filepath.Join(e.Dir, "remote")
	for _, n := range []string{"a1.txt", "a2.txt", "b.txt"} {
		write(t, filepath.Join(remote, n), n)
	}
	for _, mode := range []string{"sftp", "legacy"} {
		t.Run(mode, func(t *testing.T) {
			var flags []string
			if mode == "legacy" {
				flags = []string{"-O"}
			}
			local := mkdir(t, filepath.Join(e.Dir, mode))
			code, _, errs := run(t, e.args(append(flags, e.remote(filepath.Join(remote, "a*.txt")), local)...)...)
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, errs)
			}
			ents, err := os.ReadDir(local)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, d := range ents {
				names = append(names, d.Name())
			}
			if strings.Join(names, " ") != "a1.txt a2.txt" {
				t.Errorf("copied %q, want a1.txt a2.txt", names)
			}
		})
	}
}
