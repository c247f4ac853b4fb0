package scp

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pkg/sftp"

	"github.com/ssmssh/ssmssh/internal/e2etest"
)

// These tests run pkg/sftp's in-memory SFTP server with files that fail
// part-way, which no real server does on demand.

// errDisk is the failure the faulty files return.
var errDisk = errors.New("simulated I/O error")

// failAt makes reads and writes at or past an offset fail.
type failAt struct {
	sftp.Handlers
	readLimit, writeLimit int64
}

func (h failAt) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	ra, err := h.Handlers.FileGet.Fileread(r)
	return &faultyReaderAt{ra, h.readLimit}, err
}

func (h failAt) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	wa, err := h.Handlers.FilePut.Filewrite(r)
	return &faultyWriterAt{wa, h.writeLimit}, err
}

type faultyReaderAt struct {
	io.ReaderAt
	limit int64
}

func (f *faultyReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.limit {
		return 0, errDisk
	}
	return f.ReaderAt.ReadAt(p, off)
}

type faultyWriterAt struct {
	io.WriterAt
	limit int64
}

func (f *faultyWriterAt) WriteAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.limit {
		return 0, errDisk
	}
	return f.WriterAt.WriteAt(p, off)
}

// faultyServer is an in-memory SFTP server whose file reads and writes
// fail from readLimit and writeLimit bytes on, and a client of it.
func faultyServer(t *testing.T, readLimit, writeLimit int64) *sftp.Client {
	t.Helper()
	mem := sftp.InMemHandler()
	h := failAt{Handlers: mem, readLimit: readLimit, writeLimit: writeLimit}
	return memServe(t, sftp.Handlers{FileGet: h, FilePut: h, FileCmd: mem.FileCmd, FileList: mem.FileList}).c
}

// TestSFTPDownloadFailsMidFile: a read error part-way fails the file,
// whose partial copy is removed, and the next file is still copied.
func TestSFTPDownloadFailsMidFile(t *testing.T) {
	c := faultyServer(t, 1<<20, 1<<40)
	for name, n := range map[string]int{"/big": 2 << 20, "/small": 1000} {
		f, err := c.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte(strings.Repeat("x", n))); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	dir := t.TempDir()
	err := Download(testCtx(t), c, []string{"/big", "/small"}, dir, Options{})
	errs := fileErrors(t, err)
	if len(errs) != 1 || errs[0].Path != "/big" {
		t.Fatalf("errors %v, want one for /big", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "big")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the partial file is left: %v", err)
	}
	if len(read(t, filepath.Join(dir, "small"))) != 1000 {
		t.Error("small was not copied")
	}
}

// TestSFTPUploadFailsMidFile: a write error part-way fails the file,
// which is removed on the server.
func TestSFTPUploadFailsMidFile(t *testing.T) {
	c := faultyServer(t, 1<<40, 1<<20)
	dir := t.TempDir()
	e2etest.RandomFile(t, filepath.Join(dir, "big"), 3<<20, 1)
	e2etest.RandomFile(t, filepath.Join(dir, "small"), 1000, 2)
	err := Upload(testCtx(t), c, []string{filepath.Join(dir, "big"), filepath.Join(dir, "small")}, "/", Options{Preserve: true})
	errs := fileErrors(t, err)
	if len(errs) != 1 || errs[0].Path != "/big" {
		t.Fatalf("errors %v, want one for /big", err)
	}
	if _, err := c.Stat("/big"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the partial file is left: %v", err)
	}
	if fi, err := c.Stat("/small"); err != nil || fi.Size() != 1000 {
		t.Errorf("small: %v %v", fi, err)
	}
}

// TestCancelled: a cancelled context ends the transfer at the file in
// progress and names it.
func TestCancelled(t *testing.T) {
	c := faultyServer(t, 1<<40, 1<<40)
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a"), "A")
	write(t, filepath.Join(dir, "b"), "B")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := Upload(ctx, c, []string{filepath.Join(dir, "a"), filepath.Join(dir, "b")}, "/", Options{})
	errs := fileErrors(t, err)
	if len(errs) != 1 || !errors.Is(err, context.Canceled) || errs[0].Message() != filepath.Join(dir, "a")+": interrupted" {
		t.Errorf("errors %v, want a's interruption only", err)
	}
}
