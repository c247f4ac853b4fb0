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
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pkg/sftp"
)

// modeBits are the mode bits -p preserves.
const modeBits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// Upload copies local sources (files, and directories with Recursive) to
// dst on the server c is connected to, over SFTP. See the package
// documentation for the rules and the errors returned.
//
// Files are written under their final names. Without Preserve a newly
// created file or directory gets the source's permission bits less group
// and other write (what OpenSSH's sftp gets by sending the mode to a
// server that applies the usual umask of 022; github.com/pkg/sftp cannot
// send a mode with the open, so a mode other than the server's default
// 0644 or 0755 is set afterwards, and the server's umask is not applied
// to it).
func Upload(ctx context.Context, c *sftp.Client, sources []string, dst string, o Options) error {
	u := &sftpUpload{o: &o, collector: collector{ctx: ctx}}
	u.pool = newPool(ctx, c, &o, &uploadCopier{ctx: ctx, o: &o}, &u.collector)
	defer u.pool.wait()
	dst = remotePath(dst)
	var fi fs.FileInfo
	err := u.pool.remote(func(c *sftp.Client) (err error) { fi, err = c.Stat(dst); return err })
	if err != nil && isLost(err) {
		return fmt.Errorf("scp: %s: %w", dst, err)
	}
	dstDir := err == nil && fi.IsDir()
	if len(sources) > 1 && !dstDir {
		return &Errors{Files: []*FileError{{Path: dst, Err: ErrNotDirectory}}}
	}
	for _, src := range sources {
		if u.stopped() {
			break
		}
		target := dst
		if dstDir {
			target = path.Join(dst, localBase(src))
		}
		u.source(src, target)
	}
	u.pool.wait()
	u.runAfter()
	return u.err()
}

// localBase is the name a local source gets in a destination directory.
func localBase(src string) string {
	base := filepath.Base(src)
	if base == "." || base == ".." || base == string(filepath.Separator) {
		if abs, err := filepath.Abs(src); err == nil {
			base = filepath.Base(abs)
		}
	}
	return base
}

type sftpUpload struct {
	o *Options
	collector
	walk
}

// walk is what the walk of a transfer shares with its pool.
type walk struct {
	pool *pool
	// after are the directories' -p modes and times, applied once the
	// files in them are written.
	after []func()
}

// stopped reports whether the walk is to stop: a fatal error, or no
// connection left.
func (u *sftpUpload) stopped() bool { return u.stop || u.pool.fatal() }

func (d *sftpDownload) stopped() bool { return d.stop || d.pool.fatal() }

// runAfter applies the directories' modes and times, innermost first
// (remote ones over a connection still alive).
func (w *walk) runAfter() {
	for _, f := range w.after {
		f()
	}
}

// source copies one local file or tree to target.
func (u *sftpUpload) source(src, target string) {
	if u.interrupted(src) {
		return
	}
	fi, err := os.Stat(src)
	switch {
	case err != nil:
		u.fail(src, err)
	case fi.IsDir() && u.o.Recursive:
		u.dir(src, target, fi)
	case fi.Mode().IsRegular():
		u.file(src, target, fi)
	default:
		u.fail(src, ErrNotRegular)
	}
}

func (u *sftpUpload) dir(src, target string, fi fs.FileInfo) {
	u.o.logf("scp: entering directory %s", src)
	var rfi fs.FileInfo
	err := u.pool.remote(func(c *sftp.Client) (err error) { rfi, err = c.Stat(target); return err })
	switch {
	case err == nil && !rfi.IsDir():
		u.fail(target, ErrNotDirectory)
		return
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		u.fail(target, err)
		return
	case err != nil:
		if err := u.pool.remote(func(c *sftp.Client) error { return c.Mkdir(target) }); err != nil {
			u.fail(target, err)
			return
		}
		if mode := fi.Mode().Perm()&^0o022 | 0o700; !u.o.Preserve && mode != 0o755 {
			if err := u.pool.remote(func(c *sftp.Client) error { return c.Chmod(target, mode) }); err != nil && !u.fail(target, err) {
				return
			}
		}
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		u.fail(src, err)
		return
	}
	for _, e := range entries {
		if u.stopped() {
			return
		}
		p := filepath.Join(src, e.Name())
		if u.interrupted(p) {
			return
		}
		efi, err := os.Stat(p) // scp follows symbolic links
		t := path.Join(target, e.Name())
		switch {
		case err != nil:
			u.fail(p, err)
		case efi.IsDir():
			u.dir(p, t, efi)
		case efi.Mode().IsRegular():
			u.file(p, t, efi)
		default:
			u.fail(p, ErrNotRegular)
		}
	}
	if u.o.Preserve {
		seq := u.next()
		u.after = append(u.after, func() {
			if u.stopped() {
				return
			}
			if err := u.pool.remote(func(c *sftp.Client) error { return c.Chmod(target, fi.Mode()&modeBits) }); err != nil {
				u.failAt(seq, target, err)
				return
			}
			if err := u.pool.remote(func(c *sftp.Client) error { return c.Chtimes(target, atime(fi), fi.ModTime()) }); err != nil {
				u.failAt(seq, target, err)
			}
		})
	}
}

func (u *sftpUpload) file(src, target string, fi fs.FileInfo) {
	u.o.logf("scp: sending %s to %s (%d bytes)", src, target, fi.Size())
	u.pool.add(&job{src: src, dst: target, rpath: target, fi: fi, size: fi.Size()})
}

// uploadCopier copies local files to remote ones.
type uploadCopier struct {
	ctx context.Context
	o   *Options
}

func (u *uploadCopier) prepare(c *sftp.Client, j *job) (*sftp.File, string, error) {
	f, err := os.Open(j.src)
	if err != nil {
		return nil, j.src, err
	}
	rfi, err := c.Lstat(j.dst)
	if err == nil && rfi.IsDir() {
		f.Close()
		return nil, j.dst, syscall.EISDIR
	}
	if err != nil && isLost(err) {
		f.Close()
		return nil, j.dst, err
	}
	created := err != nil
	rf, err := c.OpenFile(j.dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		f.Close()
		return nil, j.dst, err
	}
	j.local, j.opened, j.created = f, true, created
	return rf, "", nil
}

func (u *uploadCopier) open(c *sftp.Client, j *job) (*sftp.File, error) {
	return c.OpenFile(j.dst, os.O_WRONLY)
}

func (u *uploadCopier) copyRange(ctx context.Context, h *sftp.File, j *job, off, n int64) (string, error) {
	buf := getBuffer(n)
	defer putBuffer(buf)
	got, err := j.local.ReadAt(buf, off)
	if int64(got) < n {
		if err == nil || errors.Is(err, io.EOF) {
			err = ErrChanged
		}
		return j.src, err
	}
	if _, err := h.WriteAt(buf, off); err != nil {
		return j.dst, err
	}
	return "", nil
}

func (u *uploadCopier) finish(c *sftp.Client, j *job) (string, error) {
	fi := j.fi
	j.local.Close()
	var err error
	switch {
	case u.o.Preserve:
		err = c.Chmod(j.dst, fi.Mode()&modeBits)
	case j.created && fi.Mode().Perm()&^0o022 != 0o644:
		err = c.Chmod(j.dst, fi.Mode().Perm()&^0o022)
	}
	if err == nil && u.o.Preserve {
		err = c.Chtimes(j.dst, atime(fi), fi.ModTime())
	}
	return j.dst, err
}

func (u *uploadCopier) abort(c *sftp.Client, j *job, err error) {
	if j.local != nil {
		j.local.Close()
	}
	if c != nil && j.opened && !fatal(u.ctx, err) {
		_ = c.Remove(j.dst)
	}
}

// buffers of rangeSize, for the lanes.
var buffers = sync.Pool{New: func() any { b := make([]byte, rangeSize); return &b }}

func getBuffer(n int64) []byte {
	if n > rangeSize {
		return make([]byte, n)
	}
	return (*buffers.Get().(*[]byte))[:n]
}

func putBuffer(b []byte) {
	if cap(b) == rangeSize {
		b = b[:rangeSize]
		buffers.Put(&b)
	}
}

// Download copies remote sources (patterns, expanded on the server) to
// the local dst, over SFTP. See the package documentation for the rules
// and the errors returned.
func Download(ctx context.Context, c *sftp.Client, sources []string, dst string, o Options) error {
	d := &sftpDownload{o: &o, collector: collector{ctx: ctx}}
	d.pool = newPool(ctx, c, &o, &downloadCopier{o: &o}, &d.collector)
	defer d.pool.wait()
	var paths []string
	for _, src := range sources {
		rp := remotePath(src)
		if !hasMeta(rp) {
			paths = append(paths, rp)
			continue
		}
		var m []string
		err := d.pool.remote(func(c *sftp.Client) (err error) { m, err = c.Glob(rp); return err })
		switch {
		case err != nil:
			if !d.fail(src, err) {
				return d.err()
			}
		case len(m) == 0:
			d.fail(src, fs.ErrNotExist)
		}
		paths = append(paths, m...)
	}
	fi, err := os.Stat(dst)
	dstDir := err == nil && fi.IsDir()
	if (len(sources) > 1 || len(paths) > 1) && !dstDir {
		d.fail(dst, ErrNotDirectory)
		return d.err()
	}
	for _, rp := range paths {
		if d.stopped() {
			break
		}
		target := dst
		if dstDir {
			base, err := d.base(rp)
			if err != nil {
				d.fail(rp, err)
				continue
			}
			target = filepath.Join(dst, base)
		}
		d.source(rp, target)
	}
	d.pool.wait()
	d.runAfter()
	return d.err()
}

type sftpDownload struct {
	o *Options
	collector
	walk
}

// base is the local name of the remote path rp: its last element, or
// for ".", ".." and "/" the last element of its real path.
func (d *sftpDownload) base(rp string) (string, error) {
	base := path.Base(rp)
	if validName(base) {
		return base, nil
	}
	var real string
	err := d.pool.remote(func(c *sftp.Client) (err error) { real, err = c.RealPath(rp); return err })
	if err != nil {
		return "", err
	}
	if base = path.Base(real); !validName(base) {
		return "", ErrBadName
	}
	return base, nil
}

// stat stats the remote path rp, following symbolic links.
func (d *sftpDownload) stat(rp string) (fi fs.FileInfo, err error) {
	err = d.pool.remote(func(c *sftp.Client) error { fi, err = c.Stat(rp); return err })
	return fi, err
}

func (d *sftpDownload) source(rp, target string) {
	if d.interrupted(rp) {
		return
	}
	fi, err := d.stat(rp)
	switch {
	case err != nil:
		d.fail(rp, err)
	case fi.IsDir() && d.o.Recursive:
		d.dir(rp, target, fi)
	case fi.Mode().IsRegular():
		d.file(rp, target, fi)
	default:
		d.fail(rp, ErrNotRegular)
	}
}

func (d *sftpDownload) dir(rp, target string, fi fs.FileInfo) {
	d.o.logf("scp: entering remote directory %s", rp)
	lfi, err := os.Stat(target)
	switch {
	case err == nil && !lfi.IsDir():
		d.fail(target, ErrNotDirectory)
		return
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		d.fail(target, err)
		return
	case err != nil:
		if err := os.Mkdir(target, fi.Mode().Perm()|0o700); err != nil {
			d.fail(target, err)
			return
		}
	}
	var entries []fs.FileInfo
	err = d.pool.remote(func(c *sftp.Client) (err error) { entries, err = c.ReadDir(rp); return err })
	if err != nil {
		d.fail(rp, err)
		return
	}
	slices.SortFunc(entries, func(a, b fs.FileInfo) int { return strings.Compare(a.Name(), b.Name()) })
	for _, efi := range entries {
		if d.stopped() {
			return
		}
		name := efi.Name()
		if name == "." || name == ".." {
			continue
		}
		p := path.Join(rp, name)
		if d.interrupted(p) {
			return
		}
		if !validName(name) {
			d.fail(p, ErrBadName)
			continue
		}
		if efi.Mode()&fs.ModeSymlink != 0 { // scp follows symbolic links
			if efi, err = d.stat(p); err != nil {
				d.fail(p, err)
				continue
			}
		}
		t := filepath.Join(target, name)
		switch {
		case efi.IsDir():
			d.dir(p, t, efi)
		case efi.Mode().IsRegular():
			d.file(p, t, efi)
		default:
			d.fail(p, ErrNotRegular)
		}
	}
	if d.o.Preserve {
		seq := d.next()
		d.after = append(d.after, func() {
			if d.stopped() {
				return
			}
			if err := os.Chmod(target, fi.Mode()&modeBits); err != nil {
				d.failAt(seq, target, err)
				return
			}
			if err := os.Chtimes(target, remoteAtime(fi), fi.ModTime()); err != nil {
				d.failAt(seq, target, err)
			}
		})
	}
}

// remoteAtime is the access time of a remote file's attributes.
func remoteAtime(fi fs.FileInfo) time.Time {
	if st, ok := fi.Sys().(*sftp.FileStat); ok {
		return time.Unix(int64(st.Atime), 0)
	}
	return fi.ModTime()
}

func (d *sftpDownload) file(rp, target string, fi fs.FileInfo) {
	d.o.logf("scp: receiving %s to %s (%d bytes)", rp, target, fi.Size())
	d.pool.add(&job{src: rp, dst: target, rpath: rp, fi: fi, size: fi.Size()})
}

// downloadCopier copies remote files to local ones.
type downloadCopier struct{ o *Options }

func (d *downloadCopier) prepare(c *sftp.Client, j *job) (*sftp.File, string, error) {
	rf, err := c.Open(j.src)
	if err != nil {
		return nil, j.src, err
	}
	lf, err := os.OpenFile(j.dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, j.fi.Mode().Perm()|0o200)
	if err != nil {
		rf.Close()
		return nil, j.dst, err
	}
	j.local, j.opened = lf, true
	return rf, "", nil
}

func (d *downloadCopier) open(c *sftp.Client, j *job) (*sftp.File, error) {
	return c.Open(j.src)
}

func (d *downloadCopier) copyRange(ctx context.Context, h *sftp.File, j *job, off, n int64) (string, error) {
	buf := getBuffer(n)
	defer putBuffer(buf)
	got, err := h.ReadAt(buf, off)
	if int64(got) < n {
		if err == nil || errors.Is(err, io.EOF) {
			// A short read: the file shrank, unless the connection
			// is gone (which a Stat over it tells).
			if _, serr := h.Stat(); serr != nil && isLost(serr) {
				return j.src, serr
			}
			err = ErrChanged
		}
		return j.src, err
	}
	if _, err := j.local.WriteAt(buf, off); err != nil {
		return j.dst, err
	}
	return "", nil
}

func (d *downloadCopier) finish(_ *sftp.Client, j *job) (string, error) {
	var err error
	if d.o.Preserve {
		err = j.local.Chmod(j.fi.Mode() & modeBits)
	}
	if cerr := j.local.Close(); err == nil {
		err = cerr
	}
	if err == nil && d.o.Preserve {
		err = os.Chtimes(j.dst, remoteAtime(j.fi), j.fi.ModTime())
	}
	return j.dst, err
}

func (d *downloadCopier) abort(_ *sftp.Client, j *job, _ error) {
	if j.local != nil {
		j.local.Close()
	}
	if j.opened {
		_ = os.Remove(j.dst)
	}
}
