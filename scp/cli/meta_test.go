package cli

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// setMeta gives every file and directory under root a mode and an old
// modification time of its own.
func setMeta(t testing.TB, root string) {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2019, 5, 6, 7, 8, 9, 0, time.UTC)
	for i := len(paths) - 1; i >= 0; i-- { // children before their directory
		fi, err := os.Stat(paths[i])
		if err != nil {
			t.Fatal(err)
		}
		mode := []fs.FileMode{0o600, 0o640, 0o755, 0o444}[i%4]
		if fi.IsDir() {
			mode = []fs.FileMode{0o700, 0o750, 0o755}[i%3]
		}
		if err := os.Chmod(paths[i], mode); err != nil {
			t.Fatal(err)
		}
		mt := base.Add(time.Duration(i) * 5 * time.Hour)
		if err := os.Chtimes(paths[i], mt.Add(time.Minute), mt); err != nil {
			t.Fatal(err)
		}
	}
}

// sameMeta fails unless everything under a has the same mode and
// modification time (to the second) under b.
func sameMeta(t testing.TB, a, b string) {
	t.Helper()
	err := filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(a, p)
		fa, err := os.Stat(p)
		if err != nil {
			return err
		}
		fb, err := os.Stat(filepath.Join(b, rel))
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		if fa.Mode() != fb.Mode() {
			t.Errorf("%s: mode %v, copy %v", rel, fa.Mode(), fb.Mode())
		}
		if fa.ModTime().Unix() != fb.ModTime().Unix() {
			t.Errorf("%s: mtime %v, copy %v", rel, fa.ModTime(), fb.ModTime())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
