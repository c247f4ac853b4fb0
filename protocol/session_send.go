package protocol

import (
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Writer limits.
const (
	maxControlQueue = 64   // queued control frames; SendControl blocks beyond
	ackQueueSize    = 4096 // queued acknowledgements; more are dropped
	writeBatch      = 64   // frames of each kind taken per writer pass
)

// outSlot is one message of the send window.
type outSlot struct {
	seq    int64
	buf    []byte // the encoded frame; reused for later messages
	ready  bool   // encoded (Send has finished with buf)
	acked  bool
	busy   bool      // the writer is writing buf
	sentAt time.Time // latest transmission
	xmit   uint64    // number of the latest transmission, in writing order
	sends  int       // transmissions so far
}

// ackRec is an acknowledgement waiting to be written.
type ackRec struct {
	seq int64
	id  uuid.UUID
}

// sendState is the send half of a Session, guarded by Session.mu.
//
// Sequence numbers in [ackBase, nextSeq) occupy slots[seq % len(slots)]:
// those below sentSeq have been transmitted at least once, the others are
// queued. ackBase is the oldest unacknowledged message; messages above it
// may already be acknowledged (out of order).
type sendState struct {
	slots   []outSlot
	ackBase int64
	sentSeq int64
	nextSeq int64

	xmit      uint64 // transmissions so far
	rackXmit  uint64 // latest transmission known to have arrived (acked)
	srtt      time.Duration
	rttvar    time.Duration
	rto       time.Duration
	backoff   uint // fruitless probes of the oldest message in a row
	resendAll bool // after a reconnect

	ctrl [][]byte // control frames to write
	acks []ackRec // ring of acknowledgements to write
	ackHead,
	ackLen int
}

func (st *sendState) init(window int) {
	st.slots = make([]outSlot, window)
	st.acks = make([]ackRec, ackQueueSize)
	st.srtt = initialRTT
	st.rto = initialRTO
}

func (st *sendState) slot(seq int64) *outSlot { return &st.slots[seq%int64(len(st.slots))] }
func (st *sendState) unacked() int            { return int(st.nextSeq - st.ackBase) }
func (st *sendState) hasRoom() bool           { return st.unacked() < len(st.slots) }

// reserve assigns the next sequence number and returns its slot and a
// buffer to encode into.
func (st *sendState) reserve() (int64, *outSlot, []byte) {
	seq := st.nextSeq
	st.nextSeq++
	sl := st.slot(seq)
	buf := sl.buf
	if sl.busy { // the writer is still writing the slot's previous message
		buf = nil
	}
	*sl = outSlot{seq: seq}
	return seq, sl, buf
}

// pushAck queues an acknowledgement; it reports false when the queue is
// full.
func (st *sendState) pushAck(seq int64, id uuid.UUID) bool {
	if st.ackLen == len(st.acks) {
		return false
	}
	st.acks[(st.ackHead+st.ackLen)%len(st.acks)] = ackRec{seq, id}
	st.ackLen++
	return true
}

// ack records the acknowledgement of seq at now. It reports whether seq
// was newly acknowledged.
func (st *sendState) ack(seq int64, now time.Time) bool {
	if seq < st.ackBase || seq >= st.sentSeq {
		return false
	}
	sl := st.slot(seq)
	if sl.seq != seq || sl.acked {
		return false
	}
	sl.acked = true
	if sl.sends == 1 && !sl.busy {
		st.sample(now.Sub(sl.sentAt))
		// Only an unambiguous acknowledgement moves RACK on: that of a
		// resent message may be the first transmission's, and taking it
		// for the latest would declare lost every message sent between
		// the two, which then arrive twice (and their acknowledgements,
		// just as ambiguous, would carry the error on).
		st.rackXmit = max(st.rackXmit, sl.xmit)
	}
	st.backoff = 0
	for st.ackBase < st.sentSeq && st.slot(st.ackBase).acked {
		st.ackBase++
	}
	return true
}

// sample feeds one round-trip measurement to the estimator.
func (st *sendState) sample(r time.Duration) {
	if r < 0 {
		r = 0
	}
	d := st.srtt - r
	if d < 0 {
		d = -d
	}
	st.rttvar = (3*st.rttvar + d) / 4
	st.srtt = (7*st.srtt + r) / 8
	st.rto = min(st.srtt+max(clockGranularity, 4*st.rttvar), maxRTO)
}

// lossDelay is how long after its transmission a message overtaken by an
// acknowledged later transmission is declared lost.
func (st *sendState) lossDelay() time.Duration {
	return st.srtt + max(st.srtt/4, time.Millisecond)
}

// probeInterval is how long the oldest unacknowledged message waits before
// it is resent without other evidence of loss.
func (st *sendState) probeInterval() time.Duration {
	d := st.rto << min(st.backoff, 10)
	return min(d, max(st.rto, maxRTO))
}

// wjob is one frame the writer writes outside the lock.
type wjob struct {
	frame []byte
	seq   int64 // stream message; -1 for control frames
	slot  *outSlot
}

// gatherLocked collects the writer's next batch: acknowledgements, control
// frames, retransmissions (oldest first) and new stream messages, in that
// order. It returns when the writer should look again if nothing is due
// now (zero: only when nudged).
func (s *Session) gatherLocked(now time.Time, jobs []wjob, acks []ackRec) ([]wjob, []ackRec, time.Time, error) {
	st := &s.snd
	for n := min(st.ackLen, writeBatch); n > 0; n-- {
		acks = append(acks, st.acks[st.ackHead])
		st.ackHead = (st.ackHead + 1) % len(st.acks)
		st.ackLen--
	}
	for _, f := range st.ctrl {
		jobs = append(jobs, wjob{frame: f, seq: -1})
	}
	if len(st.ctrl) > 0 {
		clear(st.ctrl)
		st.ctrl = st.ctrl[:0]
		s.sendCond.Broadcast()
	}
	var next time.Time
	if s.paused {
		return jobs, acks, next, nil
	}
	due := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	resend := func(sl *outSlot) error {
		if s.cfg.MaxResendAttempts > 0 && sl.sends > s.cfg.MaxResendAttempts {
			return fmt.Errorf("%w: message %d resent %d times", ErrNotAcknowledged, sl.seq, sl.sends-1)
		}
		st.xmit++
		sl.xmit, sl.sentAt, sl.busy = st.xmit, now, true
		sl.sends++
		s.stats.Resent++
		jobs = append(jobs, wjob{frame: sl.buf, seq: sl.seq, slot: sl})
		return nil
	}

	if st.resendAll {
		st.resendAll = false
		for seq := st.ackBase; seq < st.sentSeq; seq++ {
			if sl := st.slot(seq); !sl.acked && !sl.busy {
				if err := resend(sl); err != nil {
					return jobs, acks, next, err
				}
			}
		}
	}

	// Messages overtaken by an acknowledged later transmission. Messages
	// sent once went out in sequence order, so the first of them not
	// overtaken ends the search: every later message, sent once or
	// resent, was transmitted after it.
	resent := 0
	lossDelay := st.lossDelay()
	for seq := st.ackBase; seq < st.sentSeq && resent < writeBatch; seq++ {
		sl := st.slot(seq)
		if sl.acked || sl.busy {
			continue
		}
		if sl.xmit >= st.rackXmit {
			if sl.sends == 1 {
				break
			}
			continue
		}
		if t := sl.sentAt.Add(lossDelay); now.Before(t) {
			due(t)
			continue
		}
		if err := resend(sl); err != nil {
			return jobs, acks, next, err
		}
		resent++
	}

	// The oldest message, when nothing else says it is lost.
	if st.ackBase < st.sentSeq {
		if sl := st.slot(st.ackBase); !sl.acked && !sl.busy {
			if t := sl.sentAt.Add(st.probeInterval()); now.Before(t) {
				due(t)
			} else {
				if err := resend(sl); err != nil {
					return jobs, acks, next, err
				}
				st.backoff++
				due(now.Add(st.probeInterval()))
			}
		}
	}

	// New messages, in order.
	for n := 0; n < writeBatch && st.sentSeq < st.nextSeq; n++ {
		sl := st.slot(st.sentSeq)
		if !sl.ready {
			break // a concurrent Send is still encoding it
		}
		st.xmit++
		sl.xmit, sl.sentAt, sl.busy = st.xmit, now, true
		sl.sends = 1
		s.stats.Sent++
		jobs = append(jobs, wjob{frame: sl.buf, seq: sl.seq, slot: sl})
		st.sentSeq++
		if st.sentSeq-1 == st.ackBase {
			due(now.Add(st.probeInterval()))
		}
	}
	return jobs, acks, next, nil
}

// writeLoop is the only goroutine that writes to the transport.
func (s *Session) writeLoop() {
	defer s.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var (
		jobs     []wjob
		acks     []ackRec
		ackFrame []byte
		ackBody  []byte
		ackEnds  []int
		frames   [][]byte
	)
	for {
		s.mu.Lock()
		var (
			tr  Transport
			gen uint64
		)
		for {
			if s.terminal != nil {
				s.mu.Unlock()
				return
			}
			if !s.reconnecting {
				var next time.Time
				var err error
				jobs, acks, next, err = s.gatherLocked(time.Now(), jobs[:0], acks[:0])
				if err != nil {
					tr := s.failLocked(err)
					s.mu.Unlock()
					if tr != nil {
						tr.Close()
					}
					return
				}
				if len(jobs) > 0 || len(acks) > 0 {
					tr, gen = s.tr, s.gen
					break
				}
				if !next.IsZero() {
					timer.Reset(max(time.Until(next), 0))
				}
			}
			s.mu.Unlock()
			select {
			case <-s.wake:
			case <-timer.C:
			case <-s.stop:
			}
			timer.Stop()
			s.mu.Lock()
		}
		s.mu.Unlock()

		var werr error
		written := 0
		if fw, ok := tr.(FramesWriter); ok && len(acks)+len(jobs) > 1 {
			// One batch: the acknowledgements, laid end to end in
			// ackFrame, then the data.
			ends := ackEnds[:0]
			ackFrame = ackFrame[:0]
			for _, a := range acks {
				ackBody = appendAckPayload(ackBody[:0], s.inType, a.id, a.seq)
				m := Message{Type: TypeAcknowledge, Flags: FlagSYN | FlagFIN, MessageID: newMessageID(), Payload: ackBody}
				ackFrame, _ = m.AppendBinary(ackFrame)
				ends = append(ends, len(ackFrame))
			}
			frames = frames[:0]
			start := 0
			for _, end := range ends {
				frames = append(frames, ackFrame[start:end:end])
				start = end
			}
			for _, j := range jobs {
				frames = append(frames, j.frame)
			}
			if werr = fw.WriteFrames(frames); werr == nil {
				written = len(acks)
			}
			clear(frames)
			ackEnds = ends
		} else {
			for _, a := range acks {
				ackBody = appendAckPayload(ackBody[:0], s.inType, a.id, a.seq)
				m := Message{Type: TypeAcknowledge, Flags: FlagSYN | FlagFIN, MessageID: newMessageID(), Payload: ackBody}
				ackFrame, _ = m.AppendBinary(ackFrame[:0])
				if werr = tr.WriteFrame(ackFrame); werr != nil {
					break
				}
				written++
			}
			if werr == nil {
				for _, j := range jobs {
					if werr = tr.WriteFrame(j.frame); werr != nil {
						break
					}
				}
			}
		}

		now := time.Now()
		s.mu.Lock()
		s.stats.AcksSent += uint64(written)
		for i := range jobs {
			if sl := jobs[i].slot; sl != nil && sl.seq == jobs[i].seq && sl.busy {
				sl.busy = false
				sl.sentAt = now
			}
			jobs[i] = wjob{}
		}
		s.mu.Unlock()
		if werr != nil {
			s.transportFailed(gen, werr)
		}
	}
}
