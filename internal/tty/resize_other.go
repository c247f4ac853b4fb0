//go:build !unix

package tty

import "time"

// resizePollInterval is how often the window size is checked where there
// is no SIGWINCH.
const resizePollInterval = 250 * time.Millisecond

// NotifyResize calls changed periodically until stop is closed; the
// caller compares sizes.
func NotifyResize(stop <-chan struct{}, changed func()) {
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
