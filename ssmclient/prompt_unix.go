//go:build !windows

package ssmclient

import "os"

// openTerminal opens the terminal device at path (default /dev/tty) for
// both reading and writing.
func openTerminal(path string) (in, out *os.File, err error) {
	if path == "" {
		path = "/dev/tty"
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, nil, err
	}
	return f, f, nil
}
