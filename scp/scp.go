package scp

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/pkg/sftp"
)

// Options control a transfer; the zero value copies regular files only,
// without a progress meter.
type Options struct {
	// Recursive copies directories and their contents (scp -r).
	Recursive bool
	// Preserve keeps modes and access and modification times (scp -p).
	Preserve bool
	// Progress, if not nil, receives a progress meter for each file
	// (ssmscp passes its terminal, and nothing when it has none).
	Progress io.Writer
	// Logf, if not nil, receives a line for each file and directory.
	Logf func(format string, args ...any)
	// Sessions is the most SFTP connections an SFTP transfer uses (0
	// and 1: only the one it is given). Beyond the first, they are
	// opened with Dial while the first already copies, as long as
	// enough bytes wait (a small copy stays on one), and closed when the
	// transfer ends. The legacy protocol ignores it.
	Sessions int
	// Dial opens another SFTP connection to the same server and returns
	// it with the function that closes it (and its SSH connection).
	Dial func(ctx context.Context) (c *sftp.Client, closeConn func(), err error)
}

func (o *Options) logf(format string, args ...any) {
	if o.Logf != nil {
		o.Logf(format, args...)
	}
}

// Sentinel causes of a [FileError], for errors.Is.
var (
	// ErrNotRegular: a directory without Options.Recursive, or something
	// that is neither a file nor a directory.
	ErrNotRegular = errors.New("not a regular file")
	// ErrNotDirectory: a destination that must be a directory is not.
	ErrNotDirectory = errors.New("not a directory")
	// ErrChanged: a file's size changed while it was being copied.
	ErrChanged = errors.New("file changed size while being copied")
	// ErrBadName: a remote scp sent a name that is unsafe, or not one
	// asked for.
	ErrBadName = errors.New("unexpected file name from the remote side")
)

// FileError is the failure of one file or directory of a transfer.
type FileError struct {
	// Path names the file as the user knows it: the local or remote path
	// that could not be read or written.
	Path string
	// Err is the cause, without the path: errors.Is(err, fs.ErrNotExist)
	// and fs.ErrPermission hold for missing files and denied access,
	// also when the remote scp reported them.
	Err error
}

func (e *FileError) Error() string { return "scp: " + e.Message() }

// Message is the error as scp prints it, without a program name:
// "path: reason".
func (e *FileError) Message() string { return e.Path + ": " + Reason(e.Err) }

func (e *FileError) Unwrap() error { return e.Err }

// Errors lists the files that failed in a transfer, in order.
type Errors struct {
	Files []*FileError
}

func (e *Errors) Error() string {
	lines := make([]string, len(e.Files))
	for i, f := range e.Files {
		lines[i] = f.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the FileErrors, so that errors.Is and errors.As look
// into each.
func (e *Errors) Unwrap() []error {
	out := make([]error, len(e.Files))
	for i, f := range e.Files {
		out[i] = f
	}
	return out
}

// RemoteError is a failure the remote scp reported in its own words.
type RemoteError struct {
	// Message is the remote reason, as sent ("No such file or directory").
	Message string
}

func (e *RemoteError) Error() string { return e.Message }

// Is maps the remote scp's usual strerror texts onto fs.ErrNotExist,
// fs.ErrPermission, ErrNotRegular and ErrNotDirectory.
func (e *RemoteError) Is(target error) bool {
	switch target {
	case fs.ErrNotExist:
		return e.Message == syscall.ENOENT.Error() || strings.EqualFold(e.Message, "No such file or directory")
	case fs.ErrPermission:
		return strings.EqualFold(e.Message, "Permission denied") || strings.EqualFold(e.Message, "Operation not permitted")
	case ErrNotRegular:
		return strings.EqualFold(e.Message, "not a regular file")
	case ErrNotDirectory:
		return strings.EqualFold(e.Message, "Not a directory")
	}
	return false
}

// Reason is err as the reason part of an scp message: the cause without
// the operation and path of an *fs.PathError, and SFTP's status codes as
// the words OpenSSH uses.
func Reason(err error) string {
	var pe *fs.PathError
	for errors.As(err, &pe) {
		err = pe.Err
	}
	var se *sftp.StatusError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &se):
		return sftpReason(se)
	case errors.Is(err, fs.ErrNotExist) && !isRemote(err):
		return "No such file or directory"
	case errors.Is(err, fs.ErrPermission) && !isRemote(err):
		return "Permission denied"
	case errors.Is(err, context.Canceled):
		return "interrupted"
	case isLost(err):
		return "lost connection"
	}
	return strings.TrimPrefix(err.Error(), "scp: ")
}

func isRemote(err error) bool {
	var re *RemoteError
	return errors.As(err, &re)
}

// sftpReason words an SFTP status as OpenSSH's sftp does.
func sftpReason(se *sftp.StatusError) string {
	switch se.FxCode() {
	case sftp.ErrSSHFxNoSuchFile:
		return "No such file or directory"
	case sftp.ErrSSHFxPermissionDenied:
		return "Permission denied"
	case sftp.ErrSSHFxFailure:
		return "Failure"
	case sftp.ErrSSHFxBadMessage:
		return "Bad message"
	case sftp.ErrSSHFxNoConnection, sftp.ErrSSHFxConnectionLost:
		return "lost connection"
	case sftp.ErrSSHFxOpUnsupported:
		return "Operation unsupported"
	}
	return se.Error()
}

// isLost reports whether err means the connection, not one file, failed.
func isLost(err error) bool {
	var se *sftp.StatusError
	if errors.As(err, &se) {
		c := se.FxCode()
		return c == sftp.ErrSSHFxConnectionLost || c == sftp.ErrSSHFxNoConnection
	}
	return errors.Is(err, sftp.ErrSSHFxConnectionLost) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrClosedPipe) ||
		errors.Is(err, errLost)
}

// errLost is the cause of a legacy session that ended mid-conversation.
var errLost = errors.New("lost connection")

// fatal reports whether err should end the whole transfer.
func fatal(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || isLost(err)
}

// collector gathers a transfer's file errors; fail and failAt may be
// called from several goroutines.
type collector struct {
	ctx  context.Context
	stop bool // a fatal error was recorded (by the walk's goroutine)

	mu   sync.Mutex
	errs []seqError
	seq  int
}

// seqError is a file error and its place in the walk.
type seqError struct {
	seq int
	fe  *FileError
}

// next reserves a place in the order of errors, for a file whose error
// may come later (from a lane of a parallel copy).
func (c *collector) next() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	return c.seq
}

// fail records err for path and reports whether the transfer goes on.
func (c *collector) fail(path string, err error) bool {
	c.failAt(c.next(), path, err)
	if fatal(c.ctx, err) {
		c.stop = true
	}
	return !c.stop
}

// failAt records err for path at place seq.
func (c *collector) failAt(seq int, path string, err error) {
	var fe *FileError
	if !errors.As(err, &fe) {
		fe = &FileError{Path: path, Err: err}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs = append(c.errs, seqError{seq, fe})
}

// interrupted records the context's error for path, when it is done,
// and reports whether it was.
func (c *collector) interrupted(path string) bool {
	if err := c.ctx.Err(); err != nil {
		c.fail(path, err)
		return true
	}
	return false
}

// failures is how many errors were recorded.
func (c *collector) failures() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.errs)
}

// err is nil or the *Errors, in the order of the walk.
func (c *collector) err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.errs) == 0 {
		return nil
	}
	errs := slices.Clone(c.errs)
	sort.SliceStable(errs, func(a, b int) bool { return errs[a].seq < errs[b].seq })
	out := make([]*FileError, len(errs))
	for i, e := range errs {
		out[i] = e.fe
	}
	return &Errors{Files: out}
}

// hasMeta reports whether a remote path holds glob metacharacters.
func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[\`) }

// remotePath turns scp's remote path into an SFTP one, relative paths
// being relative to the home directory: "" and "~" are ".", "~/x" is x.
func remotePath(p string) string {
	switch {
	case p == "" || p == "~" || p == "~/":
		return "."
	case strings.HasPrefix(p, "~/"):
		return strings.TrimLeft(p[2:], "/")
	}
	return p
}

// validName reports whether a name received from the remote side may be
// created locally: one path element, not "." or "..".
func validName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00") &&
		!strings.ContainsRune(name, filepath.Separator)
}
