package sftpshell

import (
	"context"
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/ssmssh/ssmssh/scp"
)

// transferFlags are get's and put's: -p (or -P) keeps modes and times,
// -R (or -r) copies directories.
const transferFlags = "pPRr"

// errIsDir is a directory given to get or put without -R.
var errIsDir = errors.New("is a directory (use -R)")

// options are the scp options of a get or put.
func (s *Shell) options(p *parsed) scp.Options {
	return scp.Options{
		Recursive: s.Recursive || p.has('R') || p.has('r'),
		Preserve:  s.Preserve || p.has('p') || p.has('P'),
		Progress:  s.Progress,
		Logf:      s.Logf,
		Sessions:  s.Sessions,
		Dial:      s.Dial,
	}
}

func (s *Shell) cmdGet(ctx context.Context, p *parsed) error {
	sources, err := s.remoteGlob(p.args[0])
	if err != nil {
		return err
	}
	dst := s.lcwd
	if len(p.args) > 1 {
		dst = s.localPath(p.args[1])
	}
	fi, err := os.Stat(dst)
	dstIsDir := err == nil && fi.IsDir()
	if len(sources) > 1 && !dstIsDir {
		if err == nil {
			err = syscall.ENOTDIR
		}
		return localErr(dst, err)
	}
	o := s.options(p)
	return eachPath(sources, func(src string) error {
		if !o.Recursive {
			if fi, err := s.Client.Stat(src); err == nil && fi.IsDir() {
				return remoteErr(src, errIsDir)
			}
		}
		to := dst
		if dstIsDir {
			to = filepath.Join(dst, path.Base(src))
		}
		s.note("Fetching %s to %s", src, to)
		err := scp.Download(ctx, s.Client, []string{escapeGlob(src)}, dst, o)
		return sided(err, dst, escapeGlob(src), src)
	})
}

func (s *Shell) cmdPut(ctx context.Context, p *parsed) error {
	sources, err := s.localGlob(p.args[0])
	if err != nil {
		return err
	}
	dst := s.cwd
	if len(p.args) > 1 {
		dst = s.remotePath(p.args[1])
	}
	fi, err := s.Client.Stat(dst)
	dstIsDir := err == nil && fi.IsDir()
	if len(sources) > 1 && !dstIsDir {
		if err == nil {
			err = syscall.ENOTDIR
		}
		return remoteErr(dst, err)
	}
	o := s.options(p)
	return eachPath(sources, func(src string) error {
		if !o.Recursive {
			if fi, err := os.Stat(src); err == nil && fi.IsDir() {
				return localErr(src, errIsDir)
			}
		}
		to := dst
		if dstIsDir {
			to = path.Join(dst, filepath.Base(src))
		}
		s.note("Uploading %s to %s", src, to)
		return sided(scp.Upload(ctx, s.Client, []string{src}, dst, o), "", src, src)
	})
}

// sided turns the file errors of a transfer into PathErrors: those under
// local (the local destination of a get; "" for a put) are local, the
// others remote, or local when they name the put's source. A path equal
// to as (an escaped source) is shown as src.
func sided(err error, local, as, src string) error {
	var errs *scp.Errors
	if !errors.As(err, &errs) {
		return err
	}
	out := make([]error, 0, len(errs.Files))
	for _, fe := range errs.Files {
		p := fe.Path
		if p == as {
			p = src
		}
		isLocal := local != "" && (p == local || strings.HasPrefix(p, strings.TrimSuffix(local, string(filepath.Separator))+string(filepath.Separator)))
		if local == "" { // a put: the local side is the source tree
			isLocal = p == src || strings.HasPrefix(p, strings.TrimSuffix(src, string(filepath.Separator))+string(filepath.Separator))
		}
		out = append(out, pathErr(!isLocal, p, fe.Err))
	}
	return joinErrors(out)
}
