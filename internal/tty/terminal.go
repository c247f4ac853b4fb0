package tty

import (
	"os"

	"golang.org/x/term"
)

// FD returns f's descriptor without (*os.File).Fd's side effect of
// switching it to blocking mode, which would make its reads
// uninterruptible by SetReadDeadline.
func FD(f *os.File) (int, bool) {
	if f == nil {
		return 0, false
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, false
	}
	fd := -1
	if rc.Control(func(d uintptr) { fd = int(d) }) != nil || fd < 0 {
		return 0, false
	}
	return fd, true
}

// IsTerminal reports whether f is a terminal, without calling f.Fd.
func IsTerminal(f *os.File) bool {
	fd, ok := FD(f)
	return ok && term.IsTerminal(fd)
}
