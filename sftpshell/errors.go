package sftpshell

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"

	"github.com/pkg/sftp"
)

// ErrExit is what Exec returns for exit, quit and bye: Run stops without
// an error.
var ErrExit = errors.New("sftpshell: exit")

// ErrUsage is wrapped by the errors of command lines that are malformed:
// an unknown command, a missing or extra argument, an unknown flag.
var ErrUsage = errors.New("usage")

// PathError is a failed operation on one path, remote or local.
type PathError struct {
	// Remote tells the remote side from the local one.
	Remote bool
	// Path is the path as resolved (absolute).
	Path string
	// Err is the cause: fs.ErrNotExist, fs.ErrPermission, a
	// *sftp.StatusError, a syscall.Errno, ….
	Err error
}

func (e *PathError) Error() string {
	side := "local"
	if e.Remote {
		side = "remote"
	}
	return fmt.Sprintf("%s path %q: %s", side, e.Path, describe(e.Err))
}

func (e *PathError) Unwrap() error { return e.Err }

// remoteErr and localErr wrap err as a *PathError for path, unless err is
// nil or already one.
func remoteErr(path string, err error) error { return pathErr(true, path, err) }
func localErr(path string, err error) error  { return pathErr(false, path, err) }

func pathErr(remote bool, path string, err error) error {
	var pe *PathError
	if err == nil || errors.As(err, &pe) {
		return err
	}
	return &PathError{Remote: remote, Path: path, Err: unwrapPathError(err)}
}

// unwrapPathError drops the *fs.PathError (os.PathError) layer, whose
// path and operation the PathError says in its own words.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// describe is err as a short lower-case phrase: "no such file",
// "permission denied", "file exists", the server's status in words.
func describe(err error) string {
	var st *sftp.StatusError
	switch {
	case errors.Is(err, syscall.ENOTDIR):
		return "not a directory"
	case errors.Is(err, syscall.EISDIR):
		return "is a directory"
	case errors.Is(err, syscall.ENOTEMPTY):
		return "directory not empty"
	case errors.Is(err, fs.ErrNotExist):
		return "no such file"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	case errors.Is(err, fs.ErrExist):
		return "file exists"
	case errors.As(err, &st):
		return st.FxCode().Error()
	case errors.Is(err, context.Canceled):
		return "interrupted"
	}
	return strings.TrimPrefix(err.Error(), "sftp: ")
}

// CommandError is a command that failed: its name and why.
type CommandError struct {
	// Command is the command's name as typed ("rm").
	Command string
	Err     error
}

func (e *CommandError) Error() string { return e.Command + ": " + e.Err.Error() }

func (e *CommandError) Unwrap() error { return e.Err }

// LineError is the failing line that ended a Batch run.
type LineError struct {
	// Line is the line's number, from 1.
	Line int
	// Text is the line as read.
	Text string
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

func (e *LineError) Unwrap() error { return e.Err }

// usagef returns an error wrapping ErrUsage.
func usagef(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUsage}, args...)...)
}
