//go:build unix

package tty

import (
	"os"
	"os/signal"
	"syscall"
)

// NotifyResize calls changed after every SIGWINCH until stop is closed.
func NotifyResize(stop <-chan struct{}, changed func()) {
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
