package ssmtest

import (
	"math/rand/v2"
	"sync"
	"time"
)

// shaper delivers the frames relayed towards one websocket, applying the
// link faults: one-way latency (half the configured round trip) as a delay
// line that keeps frames pipelined, a bandwidth cap, and seeded drop,
// duplicate and reorder. With no faults it writes straight through.
type shaper struct {
	l    *link
	logf func(string, ...any)

	delay   time.Duration
	bps     int
	drop    float64
	dup     float64
	reorder float64
	rng     *rand.Rand

	direct bool
	q      chan timedFrame
	stop   chan struct{}
	done   sync.WaitGroup
	once   sync.Once
	held   []byte // a frame held back to be sent after the next one
}

type timedFrame struct {
	due    time.Time
	frame  []byte
	marker chan struct{} // set on drain markers, closed when reached
}

// shaperQueue bounds the frames in flight towards one side; a full queue
// blocks the relay's reader, so memory stays bounded.
const shaperQueue = 4096

func newShaper(l *link, f FaultSet, logf func(string, ...any)) *shaper {
	sh := &shaper{
		l: l, logf: logf,
		delay: f.Latency / 2, bps: f.BandwidthBytesPerSec,
		drop: f.DropRate, dup: f.DuplicateRate, reorder: f.ReorderRate,
		rng: rand.New(rand.NewPCG(uint64(f.Seed), 0x55d)),
	}
	sh.direct = sh.delay == 0 && sh.bps == 0 && sh.drop == 0 && sh.dup == 0 && sh.reorder == 0
	if !sh.direct {
		sh.q = make(chan timedFrame, shaperQueue)
		sh.stop = make(chan struct{})
		sh.done.Add(1)
		go sh.run()
	}
	return sh
}

// push queues a frame (owned by the shaper from now on).
func (sh *shaper) push(frame []byte) {
	if sh.direct {
		_ = sh.l.write(frame)
		return
	}
	select {
	case sh.q <- timedFrame{due: time.Now().Add(sh.delay), frame: frame}:
	case <-sh.stop:
	}
}

func (sh *shaper) run() {
	defer sh.done.Done()
	var sent int64
	start := time.Now()
	for {
		var tf timedFrame
		select {
		case tf = <-sh.q:
		case <-sh.stop:
			return
		}
		if tf.marker != nil {
			close(tf.marker)
			continue
		}
		if !sh.wait(time.Until(tf.due)) {
			return
		}
		if sh.bps > 0 {
			sent += int64(len(tf.frame))
			due := start.Add(time.Duration(float64(sent) / float64(sh.bps) * float64(time.Second)))
			if !sh.wait(time.Until(due)) {
				return
			}
		}
		sh.deliver(tf.frame)
	}
}

func (sh *shaper) deliver(frame []byte) {
	if sh.drop > 0 && sh.rng.Float64() < sh.drop {
		return
	}
	if sh.reorder > 0 && sh.held == nil && sh.rng.Float64() < sh.reorder {
		sh.held = frame
		return
	}
	_ = sh.l.write(frame)
	if sh.dup > 0 && sh.rng.Float64() < sh.dup {
		_ = sh.l.write(frame)
	}
	if h := sh.held; h != nil {
		sh.held = nil
		_ = sh.l.write(h)
	}
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
	if sh == nil || sh.direct {
		return
	}
	marker := make(chan struct{})
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	select {
	case sh.q <- timedFrame{marker: marker}:
	case <-t.C:
		return
	case <-sh.stop:
		return
	}
	select {
	case <-marker:
	case <-t.C:
	case <-sh.stop:
	}
}

func (sh *shaper) close() {
	if sh == nil || sh.direct {
		return
	}
	sh.once.Do(func() { close(sh.stop) })
	sh.done.Wait()
}
