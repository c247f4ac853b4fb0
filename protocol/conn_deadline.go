package protocol

import (
	"sync"
	"time"
)

// deadline is one direction's deadline of a Conn: a channel that is
// closed while the deadline has passed. Waiters select on wait(); moving a
// deadline into the future keeps the same channel (if it is still open) so
// that blocked waiters see the new time too.
type deadline struct {
	mu    sync.Mutex
	gen   uint64 // bumped by every set, so a stale timer does nothing
	timer *time.Timer
	ch    chan struct{}
}

func newDeadline() *deadline { return &deadline{ch: make(chan struct{})} }

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if !t.IsZero() && time.Until(t) <= 0 {
		if !isClosed(d.ch) {
			close(d.ch)
		}
		return
	}
	if isClosed(d.ch) {
		d.ch = make(chan struct{})
	}
	if t.IsZero() {
		return
	}
	gen := d.gen
	d.timer = time.AfterFunc(time.Until(t), func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.gen == gen && !isClosed(d.ch) {
			close(d.ch)
		}
	})
}

// wait returns a channel closed once the deadline has passed.
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ch
}

func (d *deadline) expired() bool { return isClosed(d.wait()) }
