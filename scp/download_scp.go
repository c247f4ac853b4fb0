package scp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
)

// DownloadSCP is [Download] over the legacy scp protocol: one remote
// "scp -f sources…" (with -r and -p) sends the files. The sources go to
// the remote shell unquoted: it expands patterns, variables and ~.
func DownloadSCP(ctx context.Context, client *ssh.Client, sources []string, dst string, o Options) error {
	fi, err := os.Stat(dst)
	d := &scpDownload{o: &o, dst: dst, dstDir: err == nil && fi.IsDir(), collector: collector{ctx: ctx}}
	if len(sources) > 1 && !d.dstDir {
		d.fail(dst, ErrNotDirectory)
		return d.err()
	}
	d.patterns = patterns(sources)
	r, err := startRemote(ctx, client, command("-f", &o, sources...))
	if err != nil {
		return err
	}
	d.r = r
	if _, err := r.in.Write([]byte{ackOK}); err != nil {
		r.abort()
		return r.lost(err)
	}
	if err := d.run(); err != nil {
		r.abort()
		if len(d.errs) == 0 && d.top == 0 {
			return err // nothing came: the remote scp did not start
		}
		d.fail(strings.Join(sources, " "), err)
		return d.err()
	}
	if err := r.finish(); err != nil && len(d.errs) == 0 {
		d.fail(strings.Join(sources, " "), err)
	}
	return d.err()
}

// patterns are the names top-level records may carry: the last element
// of each source, or nil when the last element of one of them is shell
// syntax this check cannot follow (quotes, variables, braces, "~", "."),
// which turns the check off. The directories before it do not matter:
// they cannot change the names sent.
func patterns(sources []string) []string {
	var out []string
	for _, s := range sources {
		base := path.Base(s)
		if strings.ContainsAny(base, "'\"$`{}~\\ \t;&|<>()") || !validName(base) {
			return nil
		}
		out = append(out, base)
	}
	return out
}

type scpDownload struct {
	o        *Options
	r        *remote
	dst      string
	dstDir   bool
	patterns []string
	top      int    // top-level records received
	stack    []dirs // directories entered
	times    *record
	collector
}

// dirs is a directory being received.
type dirs struct {
	path  string
	mode  fs.FileMode
	times *record
}

// run answers the remote source until it has sent everything. A
// returned error ends the conversation.
func (d *scpDownload) run() error {
	for !d.stop {
		kind, err := d.r.out.ReadByte()
		if errors.Is(err, io.EOF) && len(d.stack) == 0 {
			return nil
		}
		if err != nil {
			return d.r.lost(err)
		}
		line, err := readLine(d.r.out)
		if err != nil {
			return d.r.lost(err)
		}
		switch kind {
		case ackWarn, ackFatal:
			ae := &ackError{fatal: kind == ackFatal, msg: strings.TrimPrefix(line, "scp: ")}
			d.fail("", ae.fileError(""))
			if ae.fatal {
				d.stop = true
			}
			continue
		}
		rec, err := parseRecord(string(kind) + line)
		if err != nil {
			return err
		}
		if err := d.record(rec); err != nil {
			return err
		}
	}
	return nil
}

// answer sends 0, or 1 with the failure of path.
func (d *scpDownload) answer(path string, failure error) error {
	msg := "\x00"
	if failure != nil {
		msg = warning(path, failure)
	}
	_, err := io.WriteString(d.r.in, msg)
	return err
}

// record handles one control record.
func (d *scpDownload) record(rec record) error {
	switch rec.kind {
	case 'T':
		d.times = &rec
		return d.answer("", nil)
	case 'E':
		if len(d.stack) == 0 {
			return fmt.Errorf("%w: E outside a directory", errBadRecord)
		}
		dir := d.stack[len(d.stack)-1]
		d.stack = d.stack[:len(d.stack)-1]
		if err := d.preserve(dir.path, dir.mode, dir.times); err != nil {
			d.fail(dir.path, err)
		}
		return d.answer("", nil)
	}
	if !validName(rec.name) {
		return fmt.Errorf("%w: %q", ErrBadName, clipLine(rec.name))
	}
	times := d.times
	d.times = nil
	target := d.dst
	if len(d.stack) > 0 {
		target = filepath.Join(d.stack[len(d.stack)-1].path, rec.name)
	} else {
		d.top++
		if d.patterns != nil && !matchAny(d.patterns, rec.name) {
			return fmt.Errorf("%w: %q was not asked for", ErrBadName, clipLine(rec.name))
		}
		if d.dstDir {
			target = filepath.Join(d.dst, rec.name)
		} else if d.top > 1 {
			d.fail(d.dst, ErrNotDirectory)
			return d.answer(d.dst, ErrNotDirectory)
		}
	}
	if rec.kind == 'D' {
		return d.dir(rec, target, times)
	}
	return d.file(rec, target, times)
}

func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if ok, err := path.Match(p, name); ok || err != nil && p == name {
			return true
		}
	}
	return false
}

func (d *scpDownload) dir(rec record, target string, times *record) error {
	if !d.o.Recursive {
		return fmt.Errorf("%w: a directory without -r", errBadRecord)
	}
	d.o.logf("scp: receiving directory %s", target)
	fi, err := os.Stat(target)
	switch {
	case err == nil && !fi.IsDir():
		err = ErrNotDirectory
	case err != nil && errors.Is(err, fs.ErrNotExist):
		err = os.Mkdir(target, rec.mode.Perm()|0o700)
	}
	if err != nil {
		d.fail(target, err)
		return d.answer(target, err)
	}
	d.stack = append(d.stack, dirs{path: target, mode: rec.mode, times: times})
	return d.answer("", nil)
}

// preserve applies -p's mode and times to a received file or directory.
func (d *scpDownload) preserve(target string, mode fs.FileMode, times *record) error {
	if !d.o.Preserve {
		return nil
	}
	if err := os.Chmod(target, mode&modeBits); err != nil {
		return err
	}
	if times != nil {
		return os.Chtimes(target, times.atime, times.mtime)
	}
	return nil
}

func (d *scpDownload) file(rec record, target string, times *record) error {
	d.o.logf("scp: receiving %s (%d bytes)", target, rec.size)
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, rec.mode.Perm()|0o200)
	if err != nil {
		d.fail(target, err)
		return d.answer(target, err)
	}
	if err := d.answer("", nil); err != nil {
		f.Close()
		os.Remove(target)
		return err
	}
	m := newMeter(d.o, rec.name, rec.size)
	w := &sinkWriter{f: f}
	_, err = io.CopyN(&counter{ctx: d.ctx, w: w, m: m}, d.r.out, rec.size)
	m.finish()
	if err != nil { // the stream ended mid-file
		f.Close()
		os.Remove(target)
		switch {
		case d.ctx.Err() != nil:
			err = d.ctx.Err()
		case errors.Is(err, io.EOF):
			err = d.r.lost(errLost)
		default:
			err = d.r.lost(err)
		}
		d.fail(target, err)
		d.stop = true
		return nil
	}
	failure := w.err
	sourceErr := readAck(d.r.out)
	if cerr := f.Close(); failure == nil {
		failure = cerr
	}
	if failure == nil && sourceErr == nil {
		failure = d.preserve(target, rec.mode, times)
	}
	var ae *ackError
	switch {
	case sourceErr == nil:
	case errors.As(sourceErr, &ae):
		d.fail(target, ae.fileError(target))
		d.stop = ae.fatal
	default:
		os.Remove(target)
		d.fail(target, d.r.lost(sourceErr))
		d.stop = true
		return nil
	}
	if failure != nil || sourceErr != nil {
		os.Remove(target)
	}
	if failure != nil {
		d.fail(target, failure)
	}
	return d.answer(target, failure)
}

// sinkWriter writes to f until the first error, and then discards, so
// that the rest of a file's data is still read off the stream.
type sinkWriter struct {
	f   *os.File
	err error
}

func (w *sinkWriter) Write(p []byte) (int, error) {
	if w.err == nil {
		_, w.err = w.f.Write(p)
	}
	return len(p), nil
}
