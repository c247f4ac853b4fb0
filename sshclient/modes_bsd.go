//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package sshclient

import (
	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"
)

const ioctlGetTermios = unix.TIOCGETA

func addPlatformModes(ssh.TerminalModes, *unix.Termios) {}
