package ssmtest

import (
	"math/rand/v2"
	"sync"
	"time"
)

// shaper delivers the frames relayed towards one websocket, applying the
// link faults: one-way latency (half the configured round trip) as a delay
// line that keeps frames pipelined, a bandwidth cap, and seeded drop,
// duplicate and reorder.
//
// The faults are read as frames pass, so that faults set while a session
// runs act on it at once (Faults promises as much). Frames go through the
// shaper's goroutine in order; when no fault holds them, it writes every
// frame already waiting in one batch (WriteFrames), as a busy gateway
// would, instead of one write per 1 KiB frame.
type shaper struct {
	l      *link
	faults func() FaultSet
	logf   func(string, ...any)

	mu      sync.Mutex
	started bool
	closed  bool
	q       chan timedFrame
	stop    chan struct{}
	done    sync.WaitGroup

	// Owned by run.
	rng  *rand.Rand
	next time.Time // when the bandwidth cap lets the next frame out
	held []byte    // a frame held back to be sent after the next one
}

type timedFrame struct {
	due    time.Time
	frame  []byte
	marker chan struct{} // set on drain markers, closed when reached
}

// shaperQueue bounds the frames in flight towards one side; a full queue
// blocks the relay's reader, so memory stays bounded.
const shaperQueue = 4096

// maxBatch bounds the frames the shaper writes at once.
const maxBatch = 256

// reorderHold bounds how long a frame held back by ReorderRate waits for a
// successor to overtake it: on a real network a reordered packet arrives
// late, not never.
const reorderHold = 20 * time.Millisecond

func newShaper(l *link, faults func() FaultSet, logf func(string, ...any)) *shaper {
	return &shaper{l: l, faults: faults, logf: logf}
}

// push queues a frame (owned by the shaper from now on) under the faults
// f in force.
func (sh *shaper) push(frame []byte, f *FaultSet) {
	sh.mu.Lock()
	if !sh.started {
		if sh.closed {
			sh.mu.Unlock()
			_ = sh.l.write(frame)
			return
		}
		sh.started = true
		sh.q = make(chan timedFrame, shaperQueue)
		sh.stop = make(chan struct{})
		sh.rng = rand.New(rand.NewPCG(uint64(f.Seed), 0x55d))
		sh.done.Add(1)
		go sh.run()
	}
	q, stop := sh.q, sh.stop
	sh.mu.Unlock()
	select {
	case q <- timedFrame{due: time.Now().Add(f.Latency / 2), frame: frame}:
	case <-stop:
	}
}

func (sh *shaper) run() {
	defer sh.done.Done()
	hold := time.NewTimer(time.Hour)
	hold.Stop()
	defer hold.Stop()
	var (
		carry *timedFrame // taken from the queue but not part of a batch
		batch [][]byte
	)
	for {
		var tf timedFrame
		var holdC <-chan time.Time
		if sh.held != nil {
			holdC = hold.C
		}
		if carry != nil {
			tf, carry = *carry, nil
		} else {
			select {
			case tf = <-sh.q:
			case <-holdC:
				f := sh.held
				sh.held = nil
				_ = sh.l.write(f)
				continue
			case <-sh.stop:
				return
			}
		}
		if tf.marker != nil {
			if h := sh.held; h != nil {
				sh.held = nil
				_ = sh.l.write(h)
			}
			close(tf.marker)
			continue
		}
		if !sh.wait(time.Until(tf.due)) {
			return
		}
		f := sh.faults()
		if sh.held == nil && f.BandwidthBytesPerSec == 0 && f.DropRate == 0 && f.DuplicateRate == 0 && f.ReorderRate == 0 {
			// Nothing to do to the frames but pass them on: take the
			// ones already due with this one.
			batch = append(batch[:0], tf.frame)
		collect:
			for len(batch) < maxBatch {
				select {
				case next := <-sh.q:
					if next.marker != nil || time.Now().Before(next.due) {
						carry = &next
						break collect
					}
					batch = append(batch, next.frame)
				default:
					break collect
				}
			}
			_ = sh.l.writeFrames(batch)
			clear(batch)
			continue
		}
		if bps := f.BandwidthBytesPerSec; bps > 0 {
			// Time spent idle is not saved up for a later burst.
			now := time.Now()
			if sh.next.Before(now) {
				sh.next = now
			}
			sh.next = sh.next.Add(time.Duration(float64(len(tf.frame)) / float64(bps) * float64(time.Second)))
			if !sh.wait(time.Until(sh.next)) {
				return
			}
		}
		if sh.deliver(&f, tf.frame) {
			hold.Reset(reorderHold)
		}
	}
}

// deliver writes a frame as the drop, duplicate and reorder faults say;
// it reports whether it held the frame back.
func (sh *shaper) deliver(f *FaultSet, frame []byte) bool {
	if f.DropRate > 0 && sh.rng.Float64() < f.DropRate {
		return false
	}
	if f.ReorderRate > 0 && sh.held == nil && sh.rng.Float64() < f.ReorderRate {
		sh.held = frame
		return true
	}
	_ = sh.l.write(frame)
	if f.DuplicateRate > 0 && sh.rng.Float64() < f.DuplicateRate {
		_ = sh.l.write(frame)
	}
	if h := sh.held; h != nil {
		sh.held = nil
		_ = sh.l.write(h)
	}
	return false
}

func (sh *shaper) wait(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-sh.stop:
		return false
	}
}

// drain waits (briefly) until the queued frames have been written, so that
// a channel_closed sent next does not overtake them.
func (sh *shaper) drain() {
	if sh == nil {
		return
	}
	sh.mu.Lock()
	started, q, stop := sh.started, sh.q, sh.stop
	sh.mu.Unlock()
	if !started {
		return
	}
	marker := make(chan struct{})
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	select {
	case q <- timedFrame{marker: marker}:
	case <-t.C:
		return
	case <-stop:
		return
	}
	select {
	case <-marker:
	case <-t.C:
	case <-stop:
	}
}

// close stops the delay line (frames still in it are lost, as on a link
// that went down) and waits for its goroutine.
func (sh *shaper) close() {
	if sh == nil {
		return
	}
	sh.mu.Lock()
	if sh.closed {
		sh.mu.Unlock()
		return
	}
	sh.closed = true
	started, stop := sh.started, sh.stop
	sh.mu.Unlock()
	if started {
		close(stop)
		sh.done.Wait()
	}
}
