//go:build unix

package shell

import (
	"os"
	"syscall"
)

// signalChars are the control characters local signals stand for.
var signalChars = map[os.Signal]byte{
	syscall.SIGINT:  0x03,
	syscall.SIGQUIT: 0x1c,
	syscall.SIGTSTP: 0x1a,
}

// ControlSignals are the signals Options.Signals passes on.
var ControlSignals = []os.Signal{syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTSTP}
