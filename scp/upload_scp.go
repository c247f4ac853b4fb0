package scp

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
)

// errCut is the error of a directory whose copy ended at a failed file.
var errCut = errors.New("the rest of this directory was not copied")

// UploadSCP is [Upload] over the legacy scp protocol: a remote
// "scp -t dst" (with -r, -p, and -d for several sources) receives the
// files. dst goes to the remote shell unquoted.
func UploadSCP(ctx context.Context, client *ssh.Client, sources []string, dst string, o Options) error {
	u := &scpUpload{client: client, o: &o, collector: collector{ctx: ctx}}
	rest := sources
	for first := true; len(rest) > 0 && !u.stop; first = false {
		var err error
		rest, err = u.session(rest, dst, len(sources) > 1)
		if err != nil {
			if first {
				return err
			}
			u.fail(dst, err)
			break
		}
	}
	return u.err()
}

type scpUpload struct {
	client *ssh.Client
	o      *Options
	collector
}

// session sends sources over one remote "scp -t". When a local file
// cannot be read to its end the session is ended mid-file, and the
// sources not yet sent are returned for the next session. The error is
// a failure to start.
func (u *scpUpload) session(sources []string, dst string, many bool) ([]string, error) {
	mode := "-t"
	if many {
		mode = "-d -t"
	}
	r, err := startRemote(u.ctx, u.client, command(mode, u.o, dst))
	if err != nil {
		return nil, err
	}
	if err := readAck(r.out); err != nil {
		r.abort()
		var ae *ackError
		if errors.As(err, &ae) {
			u.fail(dst, ae.fileError(dst))
			u.stop = true
			return nil, nil
		}
		return nil, r.lost(err)
	}
	before := len(u.errs)
	for i, src := range sources {
		if u.stop {
			break
		}
		if u.top(r, src) {
			r.abort()
			return sources[i+1:], nil
		}
	}
	if u.stop {
		r.abort()
		return nil, nil
	}
	if err := r.finish(); err != nil && len(u.errs) == before {
		u.fail(dst, err)
	}
	return nil, nil
}

// top sends one source given on the command line; aborted reports that
// the session must end.
func (u *scpUpload) top(r *remote, src string) (aborted bool) {
	if u.interrupted(src) {
		return true
	}
	fi, err := os.Stat(src)
	switch {
	case err != nil:
		u.fail(src, err)
	case fi.IsDir() && u.o.Recursive:
		aborted = u.sendDir(r, src, localBase(src), fi)
		if aborted && !u.stop {
			u.fail(src, errCut)
		}
	case fi.Mode().IsRegular():
		aborted = u.sendFile(r, src, localBase(src), fi)
	default:
		u.fail(src, ErrNotRegular)
	}
	return aborted || u.stop
}

// send writes a control record and reads the answer. ok is false when
// the sink refused it (recorded); u.stop is set when the transfer is over.
func (u *scpUpload) send(r *remote, path, rec string) (ok bool) {
	if _, err := io.WriteString(r.in, rec); err != nil {
		u.fail(path, r.lost(err))
		u.stop = true
		return false
	}
	return u.answer(r, path)
}

// answer reads the sink's answer about path; see send.
func (u *scpUpload) answer(r *remote, path string) (ok bool) {
	err := readAck(r.out)
	var ae *ackError
	switch {
	case err == nil:
		return true
	case errors.As(err, &ae):
		u.fail(path, ae.fileError(path))
		u.stop = u.stop || ae.fatal
	default:
		u.fail(path, r.lost(err))
		u.stop = true
	}
	return false
}

func (u *scpUpload) times(r *remote, path string, fi fs.FileInfo) bool {
	if !u.o.Preserve {
		return true
	}
	return u.send(r, path, record{kind: 'T', mtime: fi.ModTime(), atime: atime(fi)}.String())
}

func (u *scpUpload) sendFile(r *remote, src, name string, fi fs.FileInfo) (aborted bool) {
	if strings.ContainsRune(name, '\n') {
		u.fail(src, errNewline)
		return false
	}
	u.o.logf("scp: sending %s (%d bytes)", src, fi.Size())
	f, err := os.Open(src)
	if err != nil {
		u.fail(src, err)
		return false
	}
	defer f.Close()
	if !u.times(r, src, fi) {
		return u.stop
	}
	if !u.send(r, src, record{kind: 'C', mode: fi.Mode(), size: fi.Size(), name: name}.String()) {
		return u.stop
	}
	m := newMeter(u.o, name, fi.Size())
	cnt := &counter{ctx: u.ctx, r: f, m: m}
	_, err = io.CopyN(r.in, cnt, fi.Size())
	m.finish()
	switch {
	case err == nil:
	case cnt.err != nil:
		u.fail(src, cnt.err)
		return true
	case errors.Is(err, io.EOF):
		u.fail(src, ErrChanged)
		return true
	default:
		u.fail(src, r.lost(err))
		u.stop = true
		return true
	}
	if !u.send(r, src, "\x00") {
		return u.stop
	}
	return false
}

var errNewline = errors.New("file name contains a newline: skipped")

func (u *scpUpload) sendDir(r *remote, src, name string, fi fs.FileInfo) (aborted bool) {
	if strings.ContainsRune(name, '\n') {
		u.fail(src, errNewline)
		return false
	}
	u.o.logf("scp: entering directory %s", src)
	if !u.times(r, src, fi) {
		return u.stop
	}
	if !u.send(r, src, record{kind: 'D', mode: fi.Mode(), name: name}.String()) {
		return u.stop
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		u.fail(src, err)
	}
	for _, e := range entries {
		p := filepath.Join(src, e.Name())
		if u.interrupted(p) {
			return true
		}
		efi, err := os.Stat(p) // scp follows symbolic links
		switch {
		case err != nil:
			u.fail(p, err)
		case efi.IsDir():
			aborted = u.sendDir(r, p, e.Name(), efi)
		case efi.Mode().IsRegular():
			aborted = u.sendFile(r, p, e.Name(), efi)
		default:
			u.fail(p, ErrNotRegular)
		}
		if aborted || u.stop {
			return true
		}
	}
	u.send(r, src, "E\n")
	return u.stop
}
