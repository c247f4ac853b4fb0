package prototest

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssmssh/ssmssh/protocol"
)

// Faults configures Faulty. Rates are probabilities in [0, 1] drawn per
// frame from a generator seeded with Seed, so a run with the same frames in
// the same order makes the same decisions.
type Faults struct {
	Seed uint64

	// DropRate is the probability that a frame is silently discarded.
	DropRate float64
	// DuplicateRate is the probability that a frame is written twice.
	DuplicateRate float64
	// ReorderRate is the probability that a frame is held back and written
	// right after the next frame. A held frame waits for that next frame,
	// however long it takes, so on an idle link it is merely late.
	ReorderRate float64
	// Latency delays every frame by this much, keeping frames pipelined
	// (a delay line, not a rate limit).
	Latency time.Duration
	// KillAfterBytes, when positive, closes the wrapped transport — both
	// directions, as when a websocket drops — as soon as more than this many
	// bytes have been handed to WriteFrame. The frame that crosses the limit
	// is not delivered.
	KillAfterBytes int64
}

// ErrKilled is returned by WriteFrame once a FaultyTransport has been
// killed by KillAfterBytes or Kill.
var ErrKilled = errors.New("prototest: transport killed")

// Counters reports what a FaultyTransport did.
type Counters struct {
	Frames     int64 // frames handed to WriteFrame
	Bytes      int64 // bytes handed to WriteFrame
	Dropped    int64
	Duplicated int64
	Reordered  int64
	Killed     bool
}

// FaultyTransport is a protocol.Transport whose writes suffer the faults
// it was created with; reads and Close pass through to the wrapped
// transport.
type FaultyTransport struct {
	inner protocol.Transport
	f     Faults

	mu   sync.Mutex // serialises WriteFrame and guards the fields below
	rng  *rand.Rand
	held []byte

	frames, bytes, dropped, duplicated, reordered atomic.Int64
	killed                                        atomic.Bool

	// delay line, when Latency > 0
	q        chan delayed
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	asyncErr atomic.Pointer[error]
}

type delayed struct {
	due   time.Time
	frame []byte
}

// delayQueue bounds the frames in a delay line; a full line blocks
// WriteFrame.
const delayQueue = 1024

// Faulty wraps t so that frames written to it suffer the faults f. Use it
// on one or both ends of a Pipe, or on a relay's writes towards a peer.
func Faulty(t protocol.Transport, f Faults) *FaultyTransport {
	ft := &FaultyTransport{
		inner: t,
		f:     f,
		rng:   rand.New(rand.NewPCG(f.Seed, f.Seed^0x9e3779b97f4a7c15)),
		stop:  make(chan struct{}),
	}
	if f.Latency > 0 {
		ft.q = make(chan delayed, delayQueue)
		ft.done = make(chan struct{})
		go ft.deliver()
	}
	return ft
}

// ReadFrame reads from the wrapped transport.
func (ft *FaultyTransport) ReadFrame() ([]byte, error) { return ft.inner.ReadFrame() }

// WriteFrame writes frame to the wrapped transport, subject to the faults.
// A dropped frame reports success, as a lossy network would.
func (ft *FaultyTransport) WriteFrame(frame []byte) error {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if ft.killed.Load() {
		return ErrKilled
	}
	if p := ft.asyncErr.Load(); p != nil {
		return *p
	}
	ft.frames.Add(1)
	total := ft.bytes.Add(int64(len(frame)))
	if ft.f.KillAfterBytes > 0 && total > ft.f.KillAfterBytes {
		ft.Kill()
		return ErrKilled
	}
	drop := ft.rng.Float64() < ft.f.DropRate
	dup := ft.rng.Float64() < ft.f.DuplicateRate
	reorder := ft.rng.Float64() < ft.f.ReorderRate
	if drop {
		ft.dropped.Add(1)
		return nil
	}
	if reorder && ft.held == nil {
		ft.reordered.Add(1)
		ft.held = append([]byte(nil), frame...)
		return nil
	}
	if err := ft.emit(frame); err != nil {
		return err
	}
	if dup {
		ft.duplicated.Add(1)
		if err := ft.emit(frame); err != nil {
			return err
		}
	}
	if h := ft.held; h != nil {
		ft.held = nil
		return ft.emit(h)
	}
	return nil
}

func (ft *FaultyTransport) emit(frame []byte) error {
	if ft.q == nil {
		return ft.inner.WriteFrame(frame)
	}
	d := delayed{due: time.Now().Add(ft.f.Latency), frame: append([]byte(nil), frame...)}
	select {
	case ft.q <- d:
		return nil
	case <-ft.stop:
		return ErrKilled
	}
}

// deliver runs the delay line.
func (ft *FaultyTransport) deliver() {
	defer close(ft.done)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		var d delayed
		select {
		case d = <-ft.q:
		case <-ft.stop:
			return
		}
		if wait := time.Until(d.due); wait > 0 {
			t.Reset(wait)
			select {
			case <-t.C:
			case <-ft.stop:
				return
			}
		}
		if err := ft.inner.WriteFrame(d.frame); err != nil {
			ft.asyncErr.CompareAndSwap(nil, &err)
			return
		}
	}
}

// Kill closes the wrapped transport at once, as a dropped websocket would
// be; later writes return ErrKilled.
func (ft *FaultyTransport) Kill() {
	ft.killed.Store(true)
	ft.shutdown()
}

// Close closes the wrapped transport and stops the delay line; frames
// still in it are lost.
func (ft *FaultyTransport) Close() error {
	return ft.shutdown()
}

func (ft *FaultyTransport) shutdown() error {
	ft.stopOnce.Do(func() { close(ft.stop) })
	err := ft.inner.Close()
	if ft.done != nil {
		<-ft.done
	}
	return err
}

// Counters returns a snapshot of what the transport has done so far.
func (ft *FaultyTransport) Counters() Counters {
	return Counters{
		Frames:     ft.frames.Load(),
		Bytes:      ft.bytes.Load(),
		Dropped:    ft.dropped.Load(),
		Duplicated: ft.duplicated.Load(),
		Reordered:  ft.reordered.Load(),
		Killed:     ft.killed.Load(),
	}
}
