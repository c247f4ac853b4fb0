//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package sshclient

import (
	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"
)

// terminalModes reads the local terminal's settings into the pty-req
// modes, as OpenSSH does, so that the remote side treats keys (erase,
// interrupt, ...) the way the local terminal did. ok is false when fd is
// not a terminal.
func terminalModes(fd int) (modes ssh.TerminalModes, ok bool) {
	tio, err := unix.IoctlGetTermios(fd, ioctlGetTermios)
	if err != nil {
		return nil, false
	}
	modes = ssh.TerminalModes{ssh.TTY_OP_ISPEED: 38400, ssh.TTY_OP_OSPEED: 38400}
	for op, i := range map[uint8]int{
		ssh.VINTR: unix.VINTR, ssh.VQUIT: unix.VQUIT, ssh.VERASE: unix.VERASE, ssh.VKILL: unix.VKILL,
		ssh.VEOF: unix.VEOF, ssh.VEOL: unix.VEOL, ssh.VEOL2: unix.VEOL2, ssh.VSTART: unix.VSTART,
		ssh.VSTOP: unix.VSTOP, ssh.VSUSP: unix.VSUSP, ssh.VREPRINT: unix.VREPRINT,
		ssh.VWERASE: unix.VWERASE, ssh.VLNEXT: unix.VLNEXT, ssh.VDISCARD: unix.VDISCARD,
	} {
		modes[op] = uint32(tio.Cc[i])
	}
	flag := func(set uint64, bit uint64) uint32 {
		if set&bit != 0 {
			return 1
		}
		return 0
	}
	iflag, oflag, cflag, lflag := uint64(tio.Iflag), uint64(tio.Oflag), uint64(tio.Cflag), uint64(tio.Lflag)
	for op, bit := range map[uint8]uint64{
		ssh.IGNPAR: unix.IGNPAR, ssh.PARMRK: unix.PARMRK, ssh.INPCK: unix.INPCK, ssh.ISTRIP: unix.ISTRIP,
		ssh.INLCR: unix.INLCR, ssh.IGNCR: unix.IGNCR, ssh.ICRNL: unix.ICRNL, ssh.IXON: unix.IXON,
		ssh.IXANY: unix.IXANY, ssh.IXOFF: unix.IXOFF, ssh.IMAXBEL: unix.IMAXBEL,
	} {
		modes[op] = flag(iflag, bit)
	}
	for op, bit := range map[uint8]uint64{
		ssh.ISIG: unix.ISIG, ssh.ICANON: unix.ICANON, ssh.ECHO: unix.ECHO, ssh.ECHOE: unix.ECHOE,
		ssh.ECHOK: unix.ECHOK, ssh.ECHONL: unix.ECHONL, ssh.NOFLSH: unix.NOFLSH, ssh.TOSTOP: unix.TOSTOP,
		ssh.IEXTEN: unix.IEXTEN, ssh.ECHOCTL: unix.ECHOCTL, ssh.ECHOKE: unix.ECHOKE, ssh.PENDIN: unix.PENDIN,
	} {
		modes[op] = flag(lflag, bit)
	}
	for op, bit := range map[uint8]uint64{ssh.OPOST: unix.OPOST, ssh.ONLCR: unix.ONLCR, ssh.OCRNL: unix.OCRNL, ssh.ONOCR: unix.ONOCR, ssh.ONLRET: unix.ONLRET} {
		modes[op] = flag(oflag, bit)
	}
	for op, bit := range map[uint8]uint64{ssh.PARENB: unix.PARENB, ssh.PARODD: unix.PARODD} {
		modes[op] = flag(cflag, bit)
	}
	modes[ssh.CS7] = boolMode(cflag&unix.CSIZE == unix.CS7)
	modes[ssh.CS8] = boolMode(cflag&unix.CSIZE == unix.CS8)
	addPlatformModes(modes, tio)
	return modes, true
}

func boolMode(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}
