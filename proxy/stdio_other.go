//go:build !unix

package proxy

import "os"

// PollableStdio returns os.Stdin and os.Stdout.
func PollableStdio() (*os.File, *os.File) { return os.Stdin, os.Stdout }
