package scp

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"path/filepath"
	"strings"
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

// collector gathers a transfer's file errors.
type collector struct {
	ctx  context.Context
	errs []*FileError
	stop bool // a fatal error was recorded
}

// fail records err for path and reports whether the transfer goes on.
func (c *collector) fail(path string, err error) bool {
	var fe *FileError
	if errors.As(err, &fe) {
		c.errs = append(c.errs, fe)
	} else {
		c.errs = append(c.errs, &FileError{Path: path, Err: err})
	}
	if fatal(c.ctx, err) {
		c.stop = true
	}
	return !c.stop
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

// err is nil or the *Errors.
func (c *collector) err() error {
	if len(c.errs) == 0 {
		return nil
	}
	return &Errors{Files: c.errs}
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
