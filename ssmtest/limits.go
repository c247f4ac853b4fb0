package ssmtest

import (
	"time"

	"github.com/ssmssh/ssmssh/protocol"
)

// The service's limits on a data channel, as far as they are known.
const (
	// ServicePublicationRate and ServicePublicationWindow are the rate
	// (stream messages a second, on average over the window) above which
	// the service is reported to pause a client's publication
	// (FaultSet.PublicationRateLimit). Reported by third parties, not
	// documented by AWS.
	ServicePublicationRate   = 1000
	ServicePublicationWindow = 2 * time.Second
	// ServiceWebsocketLifetime is about how long the service lets a
	// client's data-channel websocket live before it closes it with code
	// 1000 (session-manager-plugin issues 135 and 136: sessions of an hour
	// or more see their websocket closed and must resume).
	ServiceWebsocketLifetime = 60 * time.Minute
	// DefaultMaxMessageBytes is the largest websocket message the gateway
	// accepts by default (FaultSet.MaxMessageBytes): a 64 KiB payload and
	// the frame header. What is known: the official plugin sends payloads
	// of at most 1024 bytes (its StreamDataPayloadSize) and the agent
	// reads its target 1024 bytes at a time, so every message the service
	// is known to relay is under 1.2 KiB; the agent itself accepts larger
	// client payloads whole (5000 bytes seen). The service's own limit is
	// not documented and has not been measured: 64 KiB is a guess, large
	// enough for any client that batches its input and far below the 1 MiB
	// payload bound of the frame decoder.
	DefaultMaxMessageBytes = protocol.FrameHeaderSize + 64<<10
)

// publicationGrace is how long after pause_publication the gateway still
// takes messages the client had already sent as in flight, not as
// disregard of the pause.
const publicationGrace = 250 * time.Millisecond

func (f *FaultSet) publicationWindow() time.Duration {
	if f.PublicationRateWindow > 0 {
		return f.PublicationRateWindow
	}
	return ServicePublicationWindow
}

func (f FaultSet) maxMessageBytes() int {
	if f.MaxMessageBytes > 0 {
		return f.MaxMessageBytes
	}
	return DefaultMaxMessageBytes
}

// rateMeter counts the events of the last window in a ring of their
// times, bounded by its capacity.
type rateMeter struct {
	times   []time.Time
	head, n int
}

// add records an event at now and returns how many fell within window,
// counting at most capacity.
func (m *rateMeter) add(now time.Time, window time.Duration, capacity int) int {
	if len(m.times) != capacity {
		m.times, m.head, m.n = make([]time.Time, capacity), 0, 0
	}
	for m.n > 0 && now.Sub(m.times[m.head]) > window {
		m.head = (m.head + 1) % len(m.times)
		m.n--
	}
	if m.n == len(m.times) {
		m.head = (m.head + 1) % len(m.times)
		m.n--
	}
	m.times[(m.head+m.n)%len(m.times)] = now
	m.n++
	return m.n
}

func (m *rateMeter) reset() { m.head, m.n = 0, 0 }

// publication is the rate limiter's state for one relay.
type publication struct {
	meter    rateMeter
	paused   bool
	pausedAt time.Time
	during   int // stream messages received in the current paused window
	late     int // of those, received after publicationGrace
}

// notePublication counts a stream message from the client against
// PublicationRateLimit, pausing the client when it goes over.
func (r *relay) notePublication(f *FaultSet) {
	if f.PublicationRateLimit <= 0 {
		return
	}
	window := f.publicationWindow()
	allowed := int(float64(f.PublicationRateLimit) * window.Seconds())
	now := time.Now()
	r.mu.Lock()
	p := &r.pub
	if p.paused {
		p.during++
		if now.Sub(p.pausedAt) > publicationGrace {
			p.late++
		}
		r.mu.Unlock()
		return
	}
	over := p.meter.add(now, window, allowed+1) > allowed
	if over {
		p.meter.reset()
		p.paused, p.pausedAt, p.during, p.late = true, now, 0, 0
	}
	r.mu.Unlock()
	if !over {
		return
	}
	r.g.logf("ssmtest: session %s: the client sent more than %d messages in %v: pausing its publication",
		r.id, allowed, window)
	r.sendTo(sideClient, &protocol.Message{Type: protocol.TypePausePublication})
	time.AfterFunc(window, func() { r.checkPublication(f.PublicationRateLimit, window) })
}

// checkPublication ends a pause once the client kept to the limit over the
// last window, and looks again a window later otherwise.
func (r *relay) checkPublication(limit int, window time.Duration) {
	allowed := int(float64(limit) * window.Seconds())
	r.mu.Lock()
	p := &r.pub
	if r.ended || !p.paused {
		r.mu.Unlock()
		return
	}
	during, late := p.during, p.late
	resume := during <= allowed
	if resume {
		p.paused = false
	}
	p.during, p.late, p.pausedAt = 0, 0, time.Now().Add(-publicationGrace)
	r.mu.Unlock()
	if late > 0 {
		r.g.logf("ssmtest: session %s: the client sent %d messages while paused (%d in all in the window)", r.id, late, during)
	}
	if !resume {
		time.AfterFunc(window, func() { r.checkPublication(limit, window) })
		return
	}
	r.g.logf("ssmtest: session %s: starting the client's publication again", r.id)
	r.sendTo(sideClient, &protocol.Message{Type: protocol.TypeStartPublication})
}

// limitMessages applies FaultSet.MaxMessageBytes to a websocket.
func limitMessages(tr protocol.Transport, f *FaultSet) {
	if l, ok := tr.(interface{ SetReadLimit(int64) }); ok {
		l.SetReadLimit(int64(f.maxMessageBytes()))
	}
}
