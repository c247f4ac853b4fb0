//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package sshclient

import (
	"golang.org/x/crypto/ssh"
	"golang.org/x/term"
)

// terminalModes gives the usual modes where the local settings cannot be
// read; ok is false when fd is not a terminal.
func terminalModes(fd int) (ssh.TerminalModes, bool) {
	if !term.IsTerminal(fd) {
		return nil, false
	}
	return ssh.TerminalModes{ssh.ECHO: 1, ssh.TTY_OP_ISPEED: 38400, ssh.TTY_OP_OSPEED: 38400}, true
}
