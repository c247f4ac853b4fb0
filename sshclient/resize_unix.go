//go:build unix

package sshclient

import (
	"os"
	"os/signal"
	"syscall"
)

// notifyResize calls changed after every SIGWINCH until stop is closed.
func notifyResize(stop <-chan struct{}, changed func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGWINCH)
	defer signal.Stop(ch)
	for {
		select {
		case <-stop:
			return
		case <-ch:
			changed()
		}
	}
}
