package e2etest

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// RandomFile writes n pseudo-random bytes (from seed, so a rerun writes the
// same) to path and returns their SHA-256 in hex.
func RandomFile(t testing.TB, path string, n int64, seed uint64) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	src := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24), 'e', '2', 'e'})
	if _, err := io.CopyN(w, src, n); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// FileSHA256 returns the SHA-256 of a file's content in hex.
func FileSHA256(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Tree writes a directory tree under root for copy tests: nested
// directories, an empty file, an empty directory, small and larger
// files, a name with spaces and one with non-ASCII letters. It returns
// the number of regular files.
func Tree(t testing.TB, root string, seed uint64) int {
	t.Helper()
	files := map[string]int64{
		"README":                     300,
		"empty":                      0,
		"a/one.bin":                  1,
		"a/b/c/deep.bin":             70_000,
		"a/b/sibling.txt":            4096,
		"with space/file name.dat":   12_345,
		"ünïcødé/ファイル.bin":           2048,
		"big/one-mebibyte.bin":       1 << 20,
		"big/not-a-power-of-two.bin": 333_333,
		"many/0.txt":                 10,
		"many/1.txt":                 11,
		"many/2.txt":                 12,
		"many/3.txt":                 13,
		"many/4.txt":                 14,
		"many/5.txt":                 15,
		"many/6.txt":                 16,
		"many/7.txt":                 17,
	}
	i := seed
	for name, size := range files {
		i++
		RandomFile(t, filepath.Join(root, name), size, i)
	}
	if err := os.MkdirAll(filepath.Join(root, "empty-dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(root, "a/one.bin"), 0o640); err != nil {
		t.Fatal(err)
	}
	return len(files)
}

// CompareTrees fails the test unless the trees under a and b hold the
// same directories and the same regular files with the same content.
func CompareTrees(t testing.TB, a, b string) {
	t.Helper()
	ma, mb := treeDigest(t, a), treeDigest(t, b)
	for name, da := range ma {
		if db, ok := mb[name]; !ok {
			t.Errorf("%s: missing from %s", name, b)
		} else if da != db {
			t.Errorf("%s: %s in %s, %s in %s", name, da, a, db, b)
		}
	}
	for name := range mb {
		if _, ok := ma[name]; !ok {
			t.Errorf("%s: in %s but not in %s", name, b, a)
		}
	}
}

// treeDigest maps each path under root to "dir" or the file's SHA-256.
func treeDigest(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil || rel == "." {
			return err
		}
		switch {
		case d.IsDir():
			out[rel] = "dir"
		case d.Type().IsRegular():
			out[rel] = FileSHA256(t, path)
		default:
			out[rel] = fmt.Sprintf("type %v", d.Type())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
