package scp

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ssmssh/ssmssh/internal/e2etest"
)

func TestFileRoundTrip(t *testing.T) {
	p := newPeer(t)
	for _, m := range p.modes() {
		t.Run(m.name, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "local", "data.bin")
			sum := e2etest.RandomFile(t, src, 3<<20+17, 1)
			remote := filepath.Join(dir, "remote")
			if err := os.Mkdir(remote, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := m.upload(testCtx(t), []string{src}, remote, Options{}); err != nil {
				t.Fatal(err)
			}
			if got := e2etest.FileSHA256(t, filepath.Join(remote, "data.bin")); got != sum {
				t.Fatalf("uploaded file differs")
			}
			back := filepath.Join(dir, "back.bin")
			if err := m.download(testCtx(t), []string{filepath.Join(remote, "data.bin")}, back, Options{}); err != nil {
				t.Fatal(err)
			}
			if got := e2etest.FileSHA256(t, back); got != sum {
				t.Fatalf("downloaded file differs")
			}
		})
	}
}

// setMeta gives every file and directory under root its own mode and
// modification time, and returns them.
func setMeta(t *testing.T, root string) {
	t.Helper()
	base := time.Date(2020, 2, 3, 4, 5, 6, 0, time.UTC)
	var paths []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Children first, so that setting a file's time leaves its
	// directory's alone.
	for i := len(paths) - 1; i >= 0; i-- {
		p := paths[i]
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		mode := []fs.FileMode{0o600, 0o640, 0o755, 0o444}[i%4]
		if fi.IsDir() {
			mode = []fs.FileMode{0o700, 0o750, 0o755}[i%3]
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		mt := base.Add(time.Duration(i) * 3 * time.Hour)
		if err := os.Chtimes(p, mt.Add(time.Minute), mt); err != nil {
			t.Fatal(err)
		}
	}
}

// sameMeta fails unless everything under a has the same mode and
// modification time (to the second) under b.
func sameMeta(t *testing.T, a, b string) {
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
		if ta, tb := fa.ModTime().Unix(), fb.ModTime().Unix(); ta != tb {
			t.Errorf("%s: mtime %v, copy %v", rel, fa.ModTime(), fb.ModTime())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestTreePreserve copies a tree up and back down with -r -p: the same
// files, contents, modes and modification times.
func TestTreePreserve(t *testing.T) {
	p := newPeer(t)
	for _, m := range p.modes() {
		t.Run(m.name, func(t *testing.T) {
			dir := t.TempDir()
			local := filepath.Join(dir, "tree")
			e2etest.Tree(t, local, 7)
			setMeta(t, local)
			remote := filepath.Join(dir, "remote")
			if err := os.Mkdir(remote, 0o755); err != nil {
				t.Fatal(err)
			}
			o := Options{Recursive: true, Preserve: true}
			if err := m.upload(testCtx(t), []string{local}, remote, o); err != nil {
				t.Fatal(err)
			}
			e2etest.CompareTrees(t, local, filepath.Join(remote, "tree"))
			sameMeta(t, local, filepath.Join(remote, "tree"))

			back := filepath.Join(dir, "back")
			if err := m.download(testCtx(t), []string{filepath.Join(remote, "tree")}, back, o); err != nil {
				t.Fatal(err)
			}
			e2etest.CompareTrees(t, local, back)
			sameMeta(t, local, back)
		})
	}
}

// TestNoPreserve: without -p a copy gets the time of the copy, and the
// source's execute bits.
func TestNoPreserve(t *testing.T) {
	p := newPeer(t)
	for _, m := range p.modes() {
		t.Run(m.name, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "run.sh")
			write(t, src, "#!/bin/sh\n")
			if err := os.Chmod(src, 0o755); err != nil {
				t.Fatal(err)
			}
			old := time.Now().Add(-48 * time.Hour)
			if err := os.Chtimes(src, old, old); err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(dir, "copy.sh")
			if err := m.upload(testCtx(t), []string{src}, dst, Options{}); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(dst)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm()&0o111 != 0o111 {
				t.Errorf("mode %v, want the execute bits", fi.Mode())
			}
			if time.Since(fi.ModTime()) > time.Hour {
				t.Errorf("mtime %v preserved without -p", fi.ModTime())
			}
		})
	}
}

func TestRemoteGlob(t *testing.T) {
	p := newPeer(t)
	for _, m := range p.modes() {
		t.Run(m.name, func(t *testing.T) {
			dir := t.TempDir()
			remote := filepath.Join(dir, "remote")
			for _, n := range []string{"a1.txt", "a2.txt", "b.txt", "a3.log"} {
				write(t, filepath.Join(remote, n), n)
			}
			local := filepath.Join(dir, "local")
			if err := os.Mkdir(local, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := m.download(testCtx(t), []string{filepath.Join(remote, "a*.txt")}, local, Options{}); err != nil {
				t.Fatal(err)
			}
			ents, err := os.ReadDir(local)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
				if got := read(t, filepath.Join(local, e.Name())); got != e.Name() {
					t.Errorf("%s holds %q", e.Name(), got)
				}
			}
			if strings.Join(names, " ") != "a1.txt a2.txt" {
				t.Errorf("copied %q, want a1.txt a2.txt", names)
			}
		})
	}
}

// TestGlobNeedsDirectory: a pattern matching several files needs a
// directory destination.
func TestGlobNeedsDirectory(t *testing.T) {
	p := newPeer(t)
	for _, m := range p.modes() {
		t.Run(m.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, n := range []string{"a1", "a2"} {
				write(t, filepath.Join(dir, "remote", n), n)
			}
			dst := filepath.Join(dir, "file")
			write(t, dst, "keep")
			err := m.download(testCtx(t), []string{filepath.Join(dir, "remote", "a*")}, dst, Options{})
			errs := fileErrors(t, err)
			if !errors.Is(err, ErrNotDirectory) || !hasMessage(errs, dst, "not a directory") {
				t.Errorf("error %v, want %s: not a directory", err, dst)
			}
			if got := read(t, dst); got != "a1" && got != "keep" {
				t.Errorf("destination holds %q", got)
			}
		})
	}
}

// TestMissingAndPartial: a missing source is its own error; the other
// sources are copied.
func TestMissingAndPartial(t *testing.T) {
	p := newPeer(t)
	for _, m := range p.modes() {
		t.Run(m.name, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "src")
			write(t, filepath.Join(src, "a"), "A")
			write(t, filepath.Join(src, "b"), "B")
			srcs := []string{filepath.Join(src, "a"), filepath.Join(src, "missing"), filepath.Join(src, "b")}

			up := filepath.Join(dir, "up")
			if err := os.Mkdir(up, 0o755); err != nil {
				t.Fatal(err)
			}
			err := m.upload(testCtx(t), srcs, up, Options{})
			if errs := fileErrors(t, err); len(errs) != 1 || !errors.Is(err, fs.ErrNotExist) ||
				!hasMessage(errs, srcs[1], "No such file or directory") {
				t.Errorf("upload: %v, want one error for %s", err, srcs[1])
			}
			if read(t, filepath.Join(up, "a")) != "A" || read(t, filepath.Join(up, "b")) != "B" {
				t.Error("upload: the other files were not copied")
			}

			down := filepath.Join(dir, "down")
			if err := os.Mkdir(down, 0o755); err != nil {
				t.Fatal(err)
			}
			err = m.download(testCtx(t), srcs, down, Options{})
			if errs := fileErrors(t, err); len(errs) != 1 || !errors.Is(err, fs.ErrNotExist) ||
				!hasMessage(errs, "missing", "No such file or directory") {
				t.Errorf("download: %v, want one error for missing", err)
			}
			if read(t, filepath.Join(down, "a")) != "A" || read(t, filepath.Join(down, "b")) != "B" {
				t.Error("download: the other files were not copied")
			}
		})
	}
}

// TestPermissionDenied: a directory the remote user cannot write fails
// the files meant for it, and the rest of the tree is copied; the same
// for a local directory on download.
func TestPermissionDenied(t *testing.T) {
	p := newPeer(t)
	for _, m := range p.modes() {
		t.Run(m.name, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "tree")
			write(t, filepath.Join(src, "ok.txt"), "ok")
			write(t, filepath.Join(src, "ro", "denied.txt"), "no")
			write(t, filepath.Join(src, "z.txt"), "z")
			remote := filepath.Join(dir, "remote")
			unwritable(t, filepath.Join(remote, "tree", "ro"))

			err := m.upload(testCtx(t), []string{src}, remote, Options{Recursive: true})
			errs := fileErrors(t, err)
			if len(errs) != 1 || !errors.Is(err, fs.ErrPermission) || !hasMessage(errs, "denied.txt") {
				t.Errorf("upload: %v, want a permission error for denied.txt", err)
			}
			if read(t, filepath.Join(remote, "tree", "ok.txt")) != "ok" || read(t, filepath.Join(remote, "tree", "z.txt")) != "z" {
				t.Error("upload: the other files were not copied")
			}

			local := filepath.Join(dir, "local")
			unwritable(t, local)
			err = m.download(testCtx(t), []string{filepath.Join(src, "ok.txt")}, local, Options{})
			errs = fileErrors(t, err)
			if len(errs) != 1 || !errors.Is(err, fs.ErrPermission) || !hasMessage(errs, filepath.Join(local, "ok.txt")) {
				t.Errorf("download: %v, want a permission error for %s", err, filepath.Join(local, "ok.txt"))
			}
		})
	}
}

func TestDirectoryNeedsRecursive(t *testing.T) {
	p := newPeer(t)
	for _, m := range p.modes() {
		t.Run(m.name, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "d")
			write(t, filepath.Join(src, "f"), "f")
			write(t, filepath.Join(dir, "g"), "g")
			dst := filepath.Join(dir, "dst")
			if err := os.Mkdir(dst, 0o755); err != nil {
				t.Fatal(err)
			}
			for name, f := range map[string]func(context.Context, []string, string, Options) error{"upload": m.upload, "download": m.download} {
				err := f(testCtx(t), []string{src, filepath.Join(dir, "g")}, dst, Options{})
				errs := fileErrors(t, err)
				if len(errs) != 1 || !errors.Is(err, ErrNotRegular) || !hasMessage(errs, src, "not a regular file") {
					t.Errorf("%s: %v, want %s: not a regular file", name, err, src)
				}
				if read(t, filepath.Join(dst, "g")) != "g" {
					t.Errorf("%s: g was not copied", name)
				}
				os.Remove(filepath.Join(dst, "g"))
			}
		})
	}
}

// TestSeveralSourcesNeedDirectory: no file is written when several
// sources go to a destination that is not a directory.
func TestSeveralSourcesNeedDirectory(t *testing.T) {
	p := newPeer(t)
	for _, m := range p.modes() {
		t.Run(m.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, filepath.Join(dir, "a"), "A")
			write(t, filepath.Join(dir, "b"), "B")
			dst := filepath.Join(dir, "file")
			write(t, dst, "keep")
			srcs := []string{filepath.Join(dir, "a"), filepath.Join(dir, "b")}
			for name, f := range map[string]func(context.Context, []string, string, Options) error{"upload": m.upload, "download": m.download} {
				err := f(testCtx(t), srcs, dst, Options{})
				if errs := fileErrors(t, err); len(errs) != 1 || !errors.Is(err, ErrNotDirectory) {
					t.Errorf("%s: %v, want not a directory", name, err)
				}
				if got := read(t, dst); got != "keep" {
					t.Errorf("%s: destination overwritten with %q", name, got)
				}
			}
		})
	}
}

// shrinkingFile returns a sysfs file, which stat calls 4096 bytes long
// but which reads shorter: a file that shrinks as it is copied.
func shrinkingFile(t *testing.T) string {
	const p = "/sys/kernel/address_bits"
	fi, err := os.Stat(p)
	if err != nil || !fi.Mode().IsRegular() {
		t.Skipf("no %s: %v", p, err)
	}
	b, err := os.ReadFile(p)
	if err != nil || int64(len(b)) >= fi.Size() {
		t.Skipf("%s: %d bytes of %d, %v", p, len(b), fi.Size(), err)
	}
	return p
}

// TestSourceShrinks: a local file that reads shorter than its size fails
// and is not left looking complete (over SFTP it is removed; in the
// legacy protocol the session ends mid-file, so the remote copy stays
// short), and the next source is still copied (in the legacy protocol,
// over a new session).
func TestSourceShrinks(t *testing.T) {
	p := newPeer(t)
	short := shrinkingFile(t)
	for _, m := range p.modes() {
		t.Run(m.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, filepath.Join(dir, "next"), "next")
			remote := filepath.Join(dir, "remote")
			if err := os.Mkdir(remote, 0o755); err != nil {
				t.Fatal(err)
			}
			err := m.upload(testCtx(t), []string{short, filepath.Join(dir, "next")}, remote, Options{Preserve: true})
			errs := fileErrors(t, err)
			if len(errs) != 1 || errs[0].Path != short || !errors.Is(err, ErrChanged) {
				t.Errorf("errors %v, want %s: %v", err, short, ErrChanged)
			}
			if read(t, filepath.Join(remote, "next")) != "next" {
				t.Error("the next source was not copied")
			}
			fi, err := os.Stat(filepath.Join(remote, filepath.Base(short)))
			switch {
			case m.name == "sftp" && !errors.Is(err, fs.ErrNotExist):
				t.Errorf("the failed file is left: %v, %v", fi, err)
			case m.name == "legacy" && err == nil && fi.Size() >= 4096:
				t.Errorf("the failed file looks complete: %d bytes", fi.Size())
			}
		})
	}
}
