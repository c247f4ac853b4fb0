package scp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pkg/sftp"

	"github.com/ssmssh/ssmssh/internal/e2etest"
)

// memConn is one SFTP connection to a shared in-memory file system; kill
// breaks it as a lost session does.
type memConn struct {
	c    *sftp.Client
	kill func()
}

// memServe serves h over a pipe and returns a client of it.
func memServe(t *testing.T, h sftp.Handlers) *memConn {
	t.Helper()
	cr, sw := io.Pipe()
	sr, cw := io.Pipe()
	srv := sftp.NewRequestServer(struct {
		io.Reader
		io.WriteCloser
	}{sr, sw}, h)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve()
	}()
	c, err := sftp.NewClientPipe(cr, cw)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	kill := func() {
		once.Do(func() {
			sw.CloseWithError(io.ErrUnexpectedEOF)
			sr.CloseWithError(io.ErrClosedPipe)
		})
	}
	t.Cleanup(func() {
		kill()
		srv.Close()
		c.Close()
		<-done
	})
	return &memConn{c: c, kill: kill}
}

// separate hides the in-memory files' TransferError from the request
// server: the handlers share one file object between connections, and a
// connection that ends would otherwise fail the other connections' reads
// and writes of the same file, which no real server does.
func separate(h sftp.Handlers) sftp.Handlers {
	h.FileGet = plainReads{h.FileGet}
	h.FilePut = plainWrites{h.FilePut}
	return h
}

type plainReads struct{ sftp.FileReader }

func (p plainReads) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	ra, err := p.FileReader.Fileread(r)
	if err != nil {
		return nil, err
	}
	return struct{ io.ReaderAt }{ra}, nil
}

type plainWrites struct{ sftp.FileWriter }

func (p plainWrites) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	wa, err := p.FileWriter.Filewrite(r)
	if err != nil {
		return nil, err
	}
	return struct{ io.WriterAt }{wa}, nil
}

// walkKiller breaks its connection at the n-th directory listing or
// directory made: in the middle of a tree's walk.
type walkKiller struct {
	sftp.FileLister
	sftp.FileCmder
	left atomic.Int32
	conn *memConn
}

func (k *walkKiller) hit() bool {
	if k.left.Add(-1) == 0 {
		k.conn.kill()
		return true
	}
	return false
}

func (k *walkKiller) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	if r.Method == "List" && k.hit() {
		return nil, errors.New("killed")
	}
	return k.FileLister.Filelist(r)
}

func (k *walkKiller) Filecmd(r *sftp.Request) error {
	if r.Method == "Mkdir" && k.hit() {
		return errors.New("killed")
	}
	return k.FileCmder.Filecmd(r)
}

// TestFirstConnectionLostMidWalk: the connection the walk of a large
// tree runs on is lost at its 30th directory, after a second one joined;
// the walk goes on over the second, and every file arrives, both ways.
func TestFirstConnectionLostMidWalk(t *testing.T) {
	const dirs = 60
	for _, dir := range []string{"down", "up"} {
		t.Run(dir, func(t *testing.T) {
			mem := sftp.InMemHandler()
			killer := &walkKiller{FileLister: mem.FileList, FileCmder: mem.FileCmd}
			killer.left.Store(30)
			first := memServe(t, separate(sftp.Handlers{FileGet: mem.FileGet, FilePut: mem.FilePut, FileCmd: killer, FileList: killer}))
			killer.conn = first
			second := memServe(t, separate(mem))

			// The tree: a file large enough for a second connection,
			// first in the walk, then many small directories.
			local := filepath.Join(t.TempDir(), "tree")
			files := map[string]string{"a/big": e2etest.RandomFile(t, filepath.Join(local, "a", "big"), 8<<20, 7)}
			for i := range dirs {
				name := fmt.Sprintf("d%03d/f", i)
				files[name] = e2etest.RandomFile(t, filepath.Join(local, filepath.FromSlash(name)), int64(1000+i), uint64(i))
			}
			var logs bytes.Buffer
			var mu sync.Mutex
			dialed := 0
			o := Options{Recursive: true, Sessions: 2,
				Logf: func(f string, a ...any) { mu.Lock(); fmt.Fprintf(&logs, f+"\n", a...); mu.Unlock() },
				Dial: func(context.Context) (*sftp.Client, func(), error) {
					mu.Lock()
					defer mu.Unlock()
					dialed++
					if dialed > 1 {
						return nil, nil, errors.New("one more connection than expected")
					}
					return second.c, func() {}, nil
				}}
			var err error
			check := ""
			if dir == "up" {
				err = Upload(testCtx(t), first.c, []string{local}, "/", o)
			} else {
				if err := Upload(testCtx(t), second.c, []string{local}, "/", Options{Recursive: true}); err != nil {
					t.Fatal(err)
				}
				check = filepath.Join(t.TempDir(), "back")
				err = Download(testCtx(t), first.c, []string{"/tree"}, check, o)
			}
			mu.Lock()
			logged := logs.String()
			mu.Unlock()
			if err != nil {
				t.Fatalf("%v\n%s", err, logged)
			}
			if !strings.Contains(logged, "connection 1 lost") {
				t.Errorf("the first connection was not lost:\n%s", logged)
			}
			for name, sum := range files {
				var got string
				if dir == "up" {
					got = remoteSHA256(t, second.c, path.Join("/tree", name))
				} else {
					got = e2etest.FileSHA256(t, filepath.Join(check, filepath.FromSlash(name)))
				}
				if got != sum {
					t.Errorf("%s differs", name)
				}
			}
		})
	}
}

// remoteSHA256 is the SHA-256 of the remote file p, as
// e2etest.FileSHA256 gives it.
func remoteSHA256(t *testing.T, c *sftp.Client, p string) string {
	t.Helper()
	f, err := c.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tmp := filepath.Join(t.TempDir(), "remote")
	out, err := os.Create(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, f); err != nil {
		t.Fatal(err)
	}
	out.Close()
	return e2etest.FileSHA256(t, tmp)
}
