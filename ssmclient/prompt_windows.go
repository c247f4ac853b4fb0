//go:build windows

package ssmclient

import "os"

// openTerminal opens the console (CONIN$ for input, CONOUT$ for output), or
// path for both when it is set. The input handle is opened read-write:
// changing the console mode to hide input needs write access.
func openTerminal(path string) (in, out *os.File, err error) {
	if path != "" {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return nil, nil, err
		}
		return f, f, nil
	}
	in, err = os.OpenFile("CONIN$", os.O_RDWR, 0)
	if err != nil {
		return nil, nil, err
	}
	out, err = os.OpenFile("CONOUT$", os.O_WRONLY, 0)
	if err != nil {
		in.Close()
		return nil, nil, err
	}
	return in, out, nil
}
