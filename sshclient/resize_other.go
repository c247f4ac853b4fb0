//go:build !unix

package sshclient

import "time"

// resizePollInterval is how often the window size is checked where there
// is no SIGWINCH.
const resizePollInterval = 250 * time.Millisecond

// notifyResize calls changed periodically until stop is closed; the
// caller compares sizes.
func notifyResize(stop <-chan struct{}, changed func()) {
	t := time.NewTicker(resizePollInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			changed()
		}
	}
}
