package sshclient

import (
	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"
)

const ioctlGetTermios = unix.TCGETS

// addPlatformModes adds IUTF8, which Linux has.
func addPlatformModes(modes ssh.TerminalModes, tio *unix.Termios) {
	modes[ssh.IUTF8] = boolMode(tio.Iflag&unix.IUTF8 != 0)
}
