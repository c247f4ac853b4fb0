package protocol_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ssmssh/ssmssh/protocol"
	"github.com/ssmssh/ssmssh/protocol/prototest"
)

// relay stands in for the service's gateway: it copies frames between the
// current client-side and agent-side transports, and when one side's
// transport dies it waits for that side to attach a new one. Frames sent
// towards a dead transport are lost, as they are when a websocket drops.
type relay struct {
	mu      sync.Mutex
	cur     [2]protocol.Transport
	attachC [2]chan protocol.Transport
	stop    chan struct{}
	wg      sync.WaitGroup
}

const (
	sideClient = 0
	sideAgent  = 1
)

func newRelay() *relay {
	r := &relay{stop: make(chan struct{})}
	for i := range r.attachC {
		r.attachC[i] = make(chan protocol.Transport, 8)
	}
	r.wg.Add(2)
	go r.pump(sideClient, sideAgent)
	go r.pump(sideAgent, sideClient)
	return r
}

func (r *relay) attach(side int, tr protocol.Transport) {
	r.mu.Lock()
	r.cur[side] = tr
	r.mu.Unlock()
	r.attachC[side] <- tr
}

func (r *relay) pump(from, to int) {
	defer r.wg.Done()
	var src protocol.Transport
	for {
		if src == nil {
			select {
			case src = <-r.attachC[from]:
			case <-r.stop:
				return
			}
		}
		f, err := src.ReadFrame()
		if err != nil {
			src.Close()
			src = nil
			continue
		}
		r.mu.Lock()
		dst := r.cur[to]
		r.mu.Unlock()
		if dst != nil {
			_ = dst.WriteFrame(f)
		}
	}
}

func (r *relay) close() {
	close(r.stop)
	r.mu.Lock()
	for _, tr := range r.cur {
		if tr != nil {
			tr.Close()
		}
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// endpoint makes one side's transports: each a pipe to the relay whose
// session end drops, duplicates, reorders and delays frames, the first
// ones dying after the given numbers of bytes.
type endpoint struct {
	t      *testing.T
	r      *relay
	side   int
	kills  []int64
	seed   uint64
	mu     sync.Mutex
	faulty []*prototest.FaultyTransport
}

func (e *endpoint) dial(ctx context.Context) (protocol.Transport, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var kill int64
	if len(e.kills) > 0 {
		kill, e.kills = e.kills[0], e.kills[1:]
	}
	a, b := prototest.Pipe()
	e.seed++
	ft := prototest.Faulty(a, prototest.Faults{
		Seed:           e.seed,
		DropRate:       0.05,
		DuplicateRate:  0.05,
		ReorderRate:    0.05,
		Latency:        5 * time.Millisecond,
		KillAfterBytes: kill,
	})
	e.faulty = append(e.faulty, ft)
	e.r.attach(e.side, b)
	return ft, nil
}

func (e *endpoint) counters() (c prototest.Counters, killed int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ft := range e.faulty {
		x := ft.Counters()
		c.Frames += x.Frames
		c.Bytes += x.Bytes
		c.Dropped += x.Dropped
		c.Duplicated += x.Duplicated
		c.Reordered += x.Reordered
		if x.Killed {
			killed++
		}
	}
	return c, killed
}

// peakHeap records the largest live heap the garbage collector has
// measured (runtime/metrics /gc/heap/live:bytes: the heap marked live by
// the latest cycle, garbage excluded).
type peakHeap struct{ max atomic.Uint64 }

func (p *peakHeap) sample() {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	v := s[0].Value.Uint64()
	for {
		cur := p.max.Load()
		if v <= cur || p.max.CompareAndSwap(cur, v) {
			return
		}
	}
}

// send writes size bytes of a seeded pseudo-random stream in chunks and
// returns its digest.
func sendStream(s *protocol.Session, seed uint64, size, chunk int) ([]byte, error) {
	src := rand.NewChaCha8([32]byte{byte(seed)})
	h := sha256.New()
	buf := make([]byte, chunk)
	for sent := 0; sent < size; sent += chunk {
		_, _ = src.Read(buf)
		h.Write(buf)
		if err := s.Send(protocol.PayloadOutput, buf); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	return h.Sum(nil), s.Flush(ctx)
}

// recvStream reads size bytes and returns their digest.
func recvStream(s *protocol.Session, size int, heap *peakHeap) ([]byte, error) {
	var h hash.Hash = sha256.New()
	for got, n := 0, 0; got < size; n++ {
		pt, p, err := s.Recv()
		if err != nil {
			return nil, err
		}
		if pt != protocol.PayloadOutput {
			return nil, fmt.Errorf("payload type %v", pt)
		}
		h.Write(p)
		got += len(p)
		if n%256 == 0 {
			heap.sample()
		}
	}
	return h.Sum(nil), nil
}

// THE test of the session layer: 64 MiB each way at once, through a
// stand-in gateway, with 5% of frames dropped, 5% duplicated and 5%
// reordered on both sessions' writes, 5 ms latency, the client's
// transport killed twice and the agent's once mid-stream. Both streams
// must arrive intact, with every internal buffer within its bound and the
// heap far below the data moved.
func TestSessionTransferUnderFaults(t *testing.T) {
	size := 64 << 20
	if testing.Short() {
		size = 8 << 20
	}
	synctest.Test(t, func(t *testing.T) {
		r := newRelay()
		defer r.close()
		quiet := func(string, ...any) {}
		cfg := protocol.SessionConfig{Window: 256, RecvQueue: 256, MaxOutOfOrder: 1024, MaxBufferedBytes: 4 << 20, Logf: quiet}

		ce := &endpoint{t: t, r: r, side: sideClient, kills: []int64{int64(size) / 4, int64(size) / 3}, seed: 100}
		ae := &endpoint{t: t, r: r, side: sideAgent, kills: []int64{int64(size) / 2}, seed: 200}
		ctr, _ := ce.dial(t.Context())
		atr, _ := ae.dial(t.Context())
		ccfg, acfg := cfg, cfg
		ccfg.Role, ccfg.Reconnect = protocol.RoleClient, ce.dial
		acfg.Role, acfg.Reconnect = protocol.RoleAgent, ae.dial
		client := protocol.NewSession(ctr, ccfg)
		agent := protocol.NewSession(atr, acfg)
		defer client.Close()
		defer agent.Close()

		// The live heap is the process's: measure what earlier tests left
		// live, and hold this transfer to what it adds on top.
		runtime.GC()
		var base peakHeap
		base.sample()
		var heap peakHeap
		heap.sample()
		var wg sync.WaitGroup
		var up, upGot, down, downGot []byte
		var errs [4]error
		wg.Add(4)
		go func() { defer wg.Done(); up, errs[0] = sendStream(client, 1, size, 16<<10) }()
		go func() { defer wg.Done(); down, errs[1] = sendStream(agent, 2, size, 1024) }()
		go func() { defer wg.Done(); upGot, errs[2] = recvStream(agent, size, &heap) }()
		go func() { defer wg.Done(); downGot, errs[3] = recvStream(client, size, &heap) }()
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("stream %d: %v", i, err)
			}
		}
		if !bytes.Equal(up, upGot) {
			t.Errorf("client → agent: SHA-256 %x sent, %x received", up, upGot)
		}
		if !bytes.Equal(down, downGot) {
			t.Errorf("agent → client: SHA-256 %x sent, %x received", down, downGot)
		}

		for _, x := range []struct {
			name string
			s    *protocol.Session
			e    *endpoint
			kill int
		}{{"client", client, ce, 2}, {"agent", agent, ae, 1}} {
			st := x.s.Stats()
			fc, killed := x.e.counters()
			t.Logf("%s: %+v", x.name, st)
			t.Logf("%s link: %+v, killed %d", x.name, fc, killed)
			if killed != x.kill || st.Reconnects != uint64(x.kill) {
				t.Errorf("%s: %d transports killed, %d reconnects, want %d", x.name, killed, st.Reconnects, x.kill)
			}
			if fc.Dropped == 0 || fc.Duplicated == 0 || fc.Reordered == 0 || st.Resent == 0 || st.Duplicates == 0 || st.OutOfOrder == 0 {
				t.Errorf("%s: faults not exercised", x.name)
			}
			if st.PeakUnacked > cfg.Window || st.PeakBuffered > cfg.RecvQueue+cfg.MaxOutOfOrder ||
				st.PeakBufferedBytes > 2*cfg.MaxBufferedBytes+2*(16<<10+protocol.FrameHeaderSize) {
				t.Errorf("%s: buffers beyond their bounds: %+v", x.name, st)
			}
		}
		runtime.GC()
		heap.sample()
		peak := heap.max.Load() - min(base.max.Load(), heap.max.Load())
		t.Logf("peak live heap %d MiB above the %d MiB live before the transfer", peak>>20, base.max.Load()>>20)
		if limit := uint64(64 << 20); size >= 64<<20 && peak > limit {
			t.Errorf("peak live heap grew by %d MiB, want under %d MiB (one stream; 128 MiB cross)", peak>>20, limit>>20)
		}
	})
}
