package sftpshell

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ssmssh/ssmssh/internal/e2etest"
)

// TestPutGetFile: put and get copy a file each way, into a directory or
// to a new name, and say what they copy where.
func TestPutGetFile(t *testing.T) {
	f := newFixture(t)
	sum := e2etest.RandomFile(t, filepath.Join(f.local, "a.bin"), 300_000, 1)
	f.mustBatch(t, "mkdir in\nput a.bin in\nput a.bin renamed.bin\nlmkdir back\nget in/a.bin back\nget renamed.bin again.bin\n")
	for _, p := range []string{
		filepath.Join(f.remote, "in/a.bin"), filepath.Join(f.remote, "renamed.bin"),
		filepath.Join(f.local, "back/a.bin"), filepath.Join(f.local, "again.bin"),
	} {
		if got := e2etest.FileSHA256(t, p); got != sum {
			t.Errorf("%s: sha256 %s, want %s", p, got, sum)
		}
	}
	for _, want := range []string{
		"Uploading " + filepath.Join(f.local, "a.bin") + " to " + filepath.Join(f.remote, "in/a.bin") + "\n",
		"Fetching " + filepath.Join(f.remote, "renamed.bin") + " to " + filepath.Join(f.local, "again.bin") + "\n",
	} {
		if !strings.Contains(f.stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, f.stdout)
		}
	}
}

// TestPutGetGlobs: patterns on either side copy every match (not dot
// files), and several matches need a directory destination.
func TestPutGetGlobs(t *testing.T) {
	f := newFixture(t)
	for _, n := range []string{"1.txt", "2.txt", ".3.txt", "4.dat"} {
		write(t, filepath.Join(f.local, n), n)
		write(t, filepath.Join(f.remote, "r"+n), n)
	}
	f.mustBatch(t, "mkdir up\nput *.txt up\nlmkdir down\nget r*.txt down\n")
	for name, want := range map[string]bool{
		"remote/up/1.txt": true, "remote/up/2.txt": true, "remote/up/.3.txt": false, "remote/up/4.dat": false,
		"local/down/r1.txt": true, "local/down/r2.txt": true, "local/down/r.3.txt": true, "local/down/r4.dat": false,
	} {
		if exists(filepath.Join(filepath.Dir(f.local), name)) != want {
			t.Errorf("%s exists %v, want %v", name, !want, want)
		}
	}
	err := f.sh.Exec(t.Context(), "get r*.txt single.txt")
	want := `get: local path "` + filepath.Join(f.local, "single.txt") + `": no such file`
	if err == nil || err.Error() != want {
		t.Errorf("several matches to a missing file: %v, want %s", err, want)
	}
}

// TestRecursiveAndPreserve: -R copies a tree each way, -p keeps modes
// and times, and a directory without -R is refused.
func TestRecursiveAndPreserve(t *testing.T) {
	f := newFixture(t)
	src := filepath.Join(f.local, "tree")
	e2etest.Tree(t, src, 7)
	old := time.Date(2020, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(src, "a/one.bin"), old, old); err != nil {
		t.Fatal(err)
	}
	err := f.sh.Exec(t.Context(), "put tree")
	if err == nil || !strings.Contains(err.Error(), `local path "`+src+`": is a directory (use -R)`) {
		t.Errorf("put of a directory without -R: %v", err)
	}
	f.mustBatch(t, "put -pR tree\nlmkdir back\nget -Rp tree back\n")
	e2etest.CompareTrees(t, src, filepath.Join(f.remote, "tree"))
	e2etest.CompareTrees(t, src, filepath.Join(f.local, "back/tree"))
	for _, p := range []string{filepath.Join(f.remote, "tree/a/one.bin"), filepath.Join(f.local, "back/tree/a/one.bin")} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o640 || !fi.ModTime().Equal(old) {
			t.Errorf("%s: mode %v, mtime %v; want 0640, %v", p, fi.Mode().Perm(), fi.ModTime(), old)
		}
	}
}

// TestTransferErrors: a missing source on either side, named as such.
func TestTransferErrors(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct{ line, want string }{
		{"get nope", `get: remote path "` + filepath.Join(f.remote, "nope") + `": no such file`},
		{"get *.none", `get: remote path "` + filepath.Join(f.remote, "*.none") + `": no such file`},
		{"put nope", `put: local path "` + filepath.Join(f.local, "nope") + `": no such file`},
		{"put *.none", `put: local path "` + filepath.Join(f.local, "*.none") + `": no such file`},
	} {
		err := f.sh.Exec(t.Context(), tc.line)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v, want %s", tc.line, err, tc.want)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: %v is not fs.ErrNotExist", tc.line, err)
		}
	}
	if exists(filepath.Join(f.local, "nope")) {
		t.Error("a failed get left a local file")
	}
}

// TestNamesWithMetacharacters: a file whose name is a pattern is copied
// as itself when quoted.
func TestNamesWithMetacharacters(t *testing.T) {
	f := newFixture(t)
	write(t, filepath.Join(f.remote, "a[1]*.txt"), "literal")
	write(t, filepath.Join(f.remote, "a1x.txt"), "decoy")
	f.mustBatch(t, "get 'a[1]*.txt' got.txt\n")
	if b, err := os.ReadFile(filepath.Join(f.local, "got.txt")); err != nil || string(b) != "literal" {
		t.Errorf("got %q, %v; want the literal file", b, err)
	}
}
