package scp

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
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
	u := &sftpUpload{c: c, o: &o, collector: collector{ctx: ctx}}
	dst = remotePath(dst)
	fi, err := c.Stat(dst)
	if err != nil && isLost(err) {
		return fmt.Errorf("scp: %s: %w", dst, err)
	}
	dstDir := err == nil && fi.IsDir()
	if len(sources) > 1 && !dstDir {
		return &Errors{Files: []*FileError{{Path: dst, Err: ErrNotDirectory}}}
	}
	for _, src := range sources {
		if u.stop {
			break
		}
		target := dst
		if dstDir {
			target = path.Join(dst, localBase(src))
		}
		u.source(src, target)
	}
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
	c *sftp.Client
	o *Options
	collector
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
	rfi, err := u.c.Stat(target)
	switch {
	case err == nil && !rfi.IsDir():
		u.fail(target, ErrNotDirectory)
		return
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		u.fail(target, err)
		return
	case err != nil:
		if err := u.c.Mkdir(target); err != nil {
			u.fail(target, err)
			return
		}
		if mode := fi.Mode().Perm()&^0o022 | 0o700; !u.o.Preserve && mode != 0o755 {
			if err := u.c.Chmod(target, mode); err != nil && !u.fail(target, err) {
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
		if u.stop {
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
	if u.o.Preserve && !u.stop {
		if err := u.c.Chmod(target, fi.Mode()&modeBits); err != nil {
			u.fail(target, err)
			return
		}
		if err := u.c.Chtimes(target, atime(fi), fi.ModTime()); err != nil {
			u.fail(target, err)
		}
	}
}

func (u *sftpUpload) file(src, target string, fi fs.FileInfo) {
	u.o.logf("scp: sending %s to %s (%d bytes)", src, target, fi.Size())
	f, err := os.Open(src)
	if err != nil {
		u.fail(src, err)
		return
	}
	defer f.Close()
	rfi, err := u.c.Lstat(target)
	if err == nil && rfi.IsDir() {
		u.fail(target, syscall.EISDIR)
		return
	}
	created := err != nil
	rf, err := u.c.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		u.fail(target, err)
		return
	}
	m := newMeter(u.o, filepath.Base(src), fi.Size())
	cnt := &counter{ctx: u.ctx, r: f, m: m}
	n, err := rf.ReadFromWithConcurrency(cnt, 0)
	m.finish()
	blame := target
	if cnt.err != nil {
		blame, err = src, cnt.err
	}
	if err == nil && n < fi.Size() {
		blame, err = src, ErrChanged
	}
	switch {
	case err != nil:
	case u.o.Preserve:
		err = rf.Chmod(fi.Mode() & modeBits)
	case created && fi.Mode().Perm()&^0o022 != 0o644:
		err = rf.Chmod(fi.Mode().Perm() &^ 0o022)
	}
	if cerr := rf.Close(); err == nil {
		err = cerr
	}
	if err == nil && u.o.Preserve {
		err = u.c.Chtimes(target, atime(fi), fi.ModTime())
	}
	if err != nil {
		if !fatal(u.ctx, err) {
			_ = u.c.Remove(target)
		}
		u.fail(blame, err)
	}
}

// Download copies remote sources (patterns, expanded on the server) to
// the local dst, over SFTP. See the package documentation for the rules
// and the errors returned.
func Download(ctx context.Context, c *sftp.Client, sources []string, dst string, o Options) error {
	d := &sftpDownload{c: c, o: &o, collector: collector{ctx: ctx}}
	var paths []string
	for _, src := range sources {
		rp := remotePath(src)
		if !hasMeta(rp) {
			paths = append(paths, rp)
			continue
		}
		m, err := c.Glob(rp)
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
		if d.stop {
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
	return d.err()
}

type sftpDownload struct {
	c *sftp.Client
	o *Options
	collector
}

// base is the local name of the remote path rp: its last element, or
// for ".", ".." and "/" the last element of its real path.
func (d *sftpDownload) base(rp string) (string, error) {
	base := path.Base(rp)
	if validName(base) {
		return base, nil
	}
	real, err := d.c.RealPath(rp)
	if err != nil {
		return "", err
	}
	if base = path.Base(real); !validName(base) {
		return "", ErrBadName
	}
	return base, nil
}

func (d *sftpDownload) source(rp, target string) {
	if d.interrupted(rp) {
		return
	}
	fi, err := d.c.Stat(rp)
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
	entries, err := d.c.ReadDir(rp)
	if err != nil {
		d.fail(rp, err)
		return
	}
	slices.SortFunc(entries, func(a, b fs.FileInfo) int { return strings.Compare(a.Name(), b.Name()) })
	for _, efi := range entries {
		if d.stop {
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
			if efi, err = d.c.Stat(p); err != nil {
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
	if d.o.Preserve && !d.stop {
		if err := os.Chmod(target, fi.Mode()&modeBits); err != nil {
			d.fail(target, err)
			return
		}
		if err := os.Chtimes(target, remoteAtime(fi), fi.ModTime()); err != nil {
			d.fail(target, err)
		}
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
	rf, err := d.c.Open(rp)
	if err != nil {
		d.fail(rp, err)
		return
	}
	defer rf.Close()
	lf, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fi.Mode().Perm()|0o200)
	if err != nil {
		d.fail(target, err)
		return
	}
	m := newMeter(d.o, path.Base(rp), fi.Size())
	cnt := &counter{ctx: d.ctx, w: lf, m: m}
	n, err := rf.WriteTo(cnt)
	m.finish()
	blame := rp
	if cnt.err != nil {
		blame, err = target, cnt.err
	}
	if err == nil && n < fi.Size() {
		err = ErrChanged
	}
	if err == nil && d.o.Preserve {
		err = lf.Chmod(fi.Mode() & modeBits)
		blame = target
	}
	if cerr := lf.Close(); err == nil && cerr != nil {
		blame, err = target, cerr
	}
	if err == nil && d.o.Preserve {
		err = os.Chtimes(target, remoteAtime(fi), fi.ModTime())
	}
	if err != nil {
		_ = os.Remove(target)
		d.fail(blame, err)
	}
}
