//go:build unix

package proxy

import (
	"os"
	"syscall"

	"golang.org/x/term"
)

// PollableStdio returns stdin and stdout as files the Go runtime polls, so
// that closing them interrupts a blocked Read or Write (a plain os.Stdin
// read blocks in the kernel until data comes, which would keep a finished
// session waiting for ssh).
func PollableStdio() (*os.File, *os.File) {
	return pollable(0, "/dev/stdin", os.Stdin), pollable(1, "/dev/stdout", os.Stdout)
}

func pollable(fd int, name string, fallback *os.File) *os.File {
	// A terminal's file description is shared with the shell; leave it
	// blocking (the shell would see EAGAIN after we exit).
	if term.IsTerminal(fd) {
		return fallback
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		return fallback
	}
	return os.NewFile(uintptr(fd), name)
}
