package scp

import (
	"context"
	"io"
	"io/fs"
	"os"
	"slices"
	"sync"

	"github.com/pkg/sftp"
)

// Copies over SFTP go through a pool: the walk of the sources (globs,
// stats, directories) runs on the connection the transfer was given, or
// when that one is lost on another (pool.remote), and queues every
// regular file; lanes, two per SFTP connection, copy the
// files in ranges at their offsets (a file of up to rangeSize bytes is
// one range, a larger one many, spread over the lanes). More connections
// are opened through Options.Dial, up to Options.Sessions, while the
// first already copies, and only while the bytes waiting justify one more
// (growBytes each): a small copy stays on one connection. A connection
// that is lost has its ranges taken over by the others; when none is
// left, the files not complete fail.
//
// A file's last tailSize bytes (one SFTP request) are written only after
// all its other bytes, so a copy with the full size is complete: a copy
// cut short is shorter than its source even when it cannot be removed
// (an upload whose connections are all lost).

const (
	// rangeSize is the most a lane's unit of work holds.
	rangeSize = 2 << 20
	// minRangeSize is the least a range holds (a file's last excepted):
	// 16 SFTP requests.
	minRangeSize = 512 << 10
	// rangesPerLane is how many ranges of a large file each lane of a
	// full pool gets at least, below rangeSize: at the real agent's pace
	// a 2 MiB range takes seconds, and lanes that joined late or ran slow
	// are evened out at the end only within one range's time.
	rangesPerLane = 4
	// tailSize is the most a file's last range holds: one SFTP request
	// (pkg/sftp's default packet).
	tailSize = 32 << 10
	// growBytes is how many bytes waiting justify one more connection.
	growBytes = 4 << 20
	// lanesPerConn is how many ranges a connection moves at once, so
	// that a range's last round trip overlaps the next one's.
	lanesPerConn = 2
)

// copier is one direction's per-file work.
type copier interface {
	// prepare opens the local side and the remote file through c (the
	// first lane to take the file), creating the destination; an error
	// is the file's, blamed on the path returned. The remote handle, if
	// any, serves the lane's ranges.
	prepare(c *sftp.Client, j *job) (h *sftp.File, blame string, err error)
	// open returns c's handle of the remote file, for ranges.
	open(c *sftp.Client, j *job) (*sftp.File, error)
	// copyRange copies n bytes at off between h and the local file.
	copyRange(ctx context.Context, h *sftp.File, j *job, off, n int64) (blame string, err error)
	// finish closes the local side and applies modes and times through
	// c once every byte is there.
	finish(c *sftp.Client, j *job) (blame string, err error)
	// abort removes what a failed file left, through c (nil: no
	// connection left).
	abort(c *sftp.Client, j *job, err error)
}

// job is one regular file to copy.
type job struct {
	seq      int    // its place among the transfer's errors
	src, dst string // the source and the destination path
	fi       fs.FileInfo
	size     int64
	rpath    string   // the remote one of src and dst
	local    *os.File // the local side, opened by prepare
	opened   bool     // prepare made the destination (removed on failure)
	created  bool     // an upload created the remote file
	meter    *meter

	// Under pool.mu:
	started, prepared bool
	next              int64  // the next offset to hand out below the tail
	redo              []span // ranges given back by lost connections
	busy              int    // ranges being copied
	left              int64  // bytes not yet copied
	chunk             int64  // the size of its ranges (rangeFor)
	tailOut           bool   // the tail range was handed out
	done              bool   // finished or failed
}

type span struct{ off, n int64 }

// rangeFor is the size of the ranges of a file of size bytes copied over
// up to sessions connections: rangesPerLane ranges for each lane, in
// whole SFTP requests, within minRangeSize and rangeSize.
func rangeFor(size int64, sessions int) int64 {
	r := size / int64(max(1, sessions)*lanesPerConn*rangesPerLane) &^ (tailSize - 1)
	return min(rangeSize, max(minRangeSize, r))
}

// tail is where the file's last range begins.
func (j *job) tail() int64 { return max(0, j.size-tailSize) }

// task is a lane's next piece of work.
type task struct {
	j       *job
	prepare bool
	span
}

// conn is one SFTP connection of the pool.
type conn struct {
	c     *sftp.Client
	id    int
	lanes int  // lanes still running
	lost  bool // a lane saw it fail
}

// pool runs the lanes of one transfer.
type pool struct {
	ctx context.Context
	o   *Options
	cp  copier
	col *collector

	mu      sync.Mutex
	wake    *sync.Cond
	jobs    []*job
	live    int   // connections not lost with lanes running
	opening int   // connections being opened
	dialed  int   // connections asked for, the first included
	walked  bool  // no more jobs will come
	waiting int64 // bytes not yet handed to a lane
	dead    bool  // every connection was lost
	lostErr error // why the first connection was lost
	conns   []*conn
	closers []func()
	lanes   sync.WaitGroup
	stop    func() bool
	waited  sync.Once
}

func newPool(ctx context.Context, first *sftp.Client, o *Options, cp copier, col *collector) *pool {
	p := &pool{ctx: ctx, o: o, cp: cp, col: col, dialed: 1}
	p.wake = sync.NewCond(&p.mu)
	if o.Progress != nil {
		o.Progress = &lockedWriter{w: o.Progress}
	}
	p.stop = context.AfterFunc(ctx, func() {
		p.mu.Lock()
		p.wake.Broadcast()
		p.mu.Unlock()
	})
	p.mu.Lock()
	p.addConnLocked(first, nil)
	p.mu.Unlock()
	return p
}

// lockedWriter serialises the meters of files copied at once.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// addConnLocked starts the lanes of c; closeConn, if not nil, closes it
// when the transfer ends. The caller holds mu.
func (p *pool) addConnLocked(c *sftp.Client, closeConn func()) {
	p.live++
	if closeConn != nil {
		p.closers = append(p.closers, closeConn)
	}
	cn := &conn{c: c, id: p.dialed, lanes: lanesPerConn}
	p.conns = append(p.conns, cn)
	for range lanesPerConn {
		p.lanes.Add(1)
		go func() {
			defer p.lanes.Done()
			p.work(cn)
		}()
	}
}

// remote runs op, a step of the walk (a stat, a listing, a directory
// made, a directory's mode and times), on a connection not known to be
// lost, the first one preferably. When op finds its connection lost, the
// connection is taken out of the pool (its ranges go to the others) and
// op is tried again on the next one, waiting for one being opened if
// need be, so that losing the first session does not stop the walk of
// a large tree. With none left, op's error is returned.
func (p *pool) remote(op func(c *sftp.Client) error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var err error
	for {
		i := slices.IndexFunc(p.conns, func(cn *conn) bool { return !cn.lost })
		if i < 0 {
			if p.opening > 0 && p.ctx.Err() == nil {
				p.wake.Wait()
				continue
			}
			if err == nil {
				err = errLost
			}
			return err
		}
		cn := p.conns[i]
		p.mu.Unlock()
		err = op(cn.c)
		p.mu.Lock()
		if err == nil || !isLost(err) {
			return err
		}
		p.dropLocked(cn, err)
	}
}

// fatal reports whether the transfer cannot go on: every connection was
// lost.
func (p *pool) fatal() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dead
}

// add queues a file.
func (p *pool) add(j *job) {
	j.seq = p.col.next()
	p.mu.Lock()
	defer p.mu.Unlock()
	j.left = j.size
	j.chunk = rangeFor(j.size, p.o.Sessions)
	p.jobs = append(p.jobs, j)
	p.waiting += j.size
	p.grow()
	p.wake.Broadcast()
}

// grow opens another connection when the bytes waiting justify it; the
// caller holds mu.
func (p *pool) grow() {
	for p.o.Dial != nil && !p.dead && p.dialed < p.o.Sessions && p.waiting > int64(p.live+p.opening)*growBytes && p.ctx.Err() == nil {
		p.dialed++
		p.opening++
		n := p.dialed
		p.lanes.Add(1)
		go func() {
			defer p.lanes.Done()
			c, closeConn, err := p.o.Dial(p.ctx)
			p.mu.Lock()
			defer p.mu.Unlock()
			p.opening--
			switch {
			case err != nil:
				p.o.logf("scp: connection %d of %d could not start, going on with %d: %v", n, p.o.Sessions, p.live, err)
				p.checkDeadLocked()
			case p.dead || p.walked && p.idleLocked():
				closeConn()
			default:
				p.o.logf("scp: connection %d of %d joins the copy", n, p.o.Sessions)
				p.addConnLocked(c, closeConn)
			}
			p.wake.Broadcast()
		}()
	}
}

// idleLocked reports whether no work is left to hand out.
func (p *pool) idleLocked() bool {
	for _, j := range p.jobs {
		if !j.done && (!j.started || len(j.redo) > 0 || j.next < j.tail() || !j.tailOut) {
			return false
		}
	}
	return true
}

// wait waits for the lanes to finish every file, fails what is left, and
// closes the connections the pool opened.
func (p *pool) wait() { p.waited.Do(p.drain) }

func (p *pool) drain() {
	p.mu.Lock()
	p.walked = true
	p.wake.Broadcast()
	p.mu.Unlock()
	p.lanes.Wait()
	p.stop()
	cause := p.ctx.Err()
	if cause == nil {
		cause = errLost
		if p.lostErr != nil {
			cause = p.lostErr
		}
	}
	p.mu.Lock()
	failed := p.col.failures() > 0
	for _, j := range p.jobs {
		if !j.done && (j.started || !failed) {
			failed = true
			p.failLocked(nil, j, j.src, cause)
		}
	}
	p.mu.Unlock()
	for _, c := range p.closers {
		c()
	}
}

// next blocks until there is work for a lane of cn, and returns nil when
// there is none left (or cn is lost); the caller holds mu.
func (p *pool) next(cn *conn) *task {
	for {
		if p.ctx.Err() != nil || cn.lost {
			return nil
		}
		left := false
		for _, j := range p.jobs {
			if j.done {
				continue
			}
			if t := p.take(j); t != nil {
				return t
			}
			left = true
		}
		if p.walked && !left {
			return nil
		}
		p.wake.Wait()
	}
}

// take hands out j's next piece of work, if any; the caller holds mu.
func (p *pool) take(j *job) *task {
	switch {
	case !j.started:
		j.started = true
		return &task{j: j, prepare: true}
	case !j.prepared:
		return nil
	case len(j.redo) > 0:
		s := j.redo[0]
		j.redo = j.redo[1:]
		j.busy++
		return &task{j: j, span: s}
	case j.next < j.tail():
		n := min(j.chunk, j.tail()-j.next)
		s := span{j.next, n}
		j.next += n
		p.waiting -= n
		j.busy++
		return &task{j: j, span: s}
	case !j.tailOut && j.busy == 0 && j.left == j.size-j.tail():
		// Everything but the tail is there: the tail goes last.
		j.tailOut = true
		n := j.size - j.tail()
		p.waiting -= n
		j.busy++
		return &task{j: j, span: span{j.tail(), n}}
	}
	return nil
}

// work is a lane's loop.
func (p *pool) work(cn *conn) {
	l := &lane{cn: cn}
	defer l.closeHandle()
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		t := p.next(cn)
		if t == nil {
			break
		}
		p.mu.Unlock()
		err := p.run(l, t)
		p.mu.Lock()
		if err != nil {
			p.lose(cn, t, err)
			break
		}
	}
	cn.lanes--
	if cn.lanes == 0 && !cn.lost {
		p.live--
	}
	p.wake.Broadcast()
}

// lose takes cn out of the pool after err, a lost connection, gives t
// back, and when no connection is left stops the transfer. The caller
// holds mu.
func (p *pool) lose(cn *conn, t *task, err error) {
	j := t.j
	if t.prepare {
		j.started = false
	} else {
		j.busy--
		j.redo = append(j.redo, t.span)
	}
	p.dropLocked(cn, err)
}

// dropLocked marks cn lost after err, and when no connection is left
// stops the transfer. The caller holds mu.
func (p *pool) dropLocked(cn *conn, err error) {
	if !cn.lost {
		cn.lost = true
		if p.lostErr == nil {
			p.lostErr = err
		}
		if cn.lanes > 0 {
			p.live--
		}
		p.o.logf("scp: connection %d lost (%v); %d others go on", cn.id, err, p.live)
	}
	p.checkDeadLocked()
	p.wake.Broadcast()
}

// checkDeadLocked ends the transfer when no connection is left, lost or
// being opened. The caller holds mu.
func (p *pool) checkDeadLocked() {
	if p.opening == 0 && !slices.ContainsFunc(p.conns, func(c *conn) bool { return !c.lost }) {
		p.dead = true
	}
}

// lane is one worker of a connection, with the handle of the file it
// copies.
type lane struct {
	cn *conn
	h  *sftp.File
	hj *job
}

func (l *lane) closeHandle() {
	if l.h != nil && !l.cn.lost {
		_ = l.h.Close()
	}
	l.h, l.hj = nil, nil
}

// run does t over l; the error is not nil only when l's connection was
// lost (t is then to be given back). A file's own failure is recorded.
func (p *pool) run(l *lane, t *task) error {
	j := t.j
	c := l.cn.c
	if t.prepare {
		h, blame, err := p.cp.prepare(c, j)
		if err != nil && isLost(err) && p.ctx.Err() == nil {
			return err
		}
		if h != nil {
			l.closeHandle()
			l.h, l.hj = h, j
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if err != nil {
			p.failLocked(c, j, blame, err)
			return nil
		}
		j.prepared = true
		j.meter = newMeter(p.o, j.name(), j.size)
		if j.size == 0 {
			p.completeLocked(l, j)
		}
		p.wake.Broadcast()
		return nil
	}
	blame, err := j.src, p.ctx.Err()
	if err == nil && l.hj != j {
		l.closeHandle()
		var h *sftp.File
		if h, err = p.cp.open(c, j); err == nil {
			l.h, l.hj = h, j
		}
		blame = j.rpath
	}
	if err == nil {
		blame, err = p.cp.copyRange(p.ctx, l.h, j, t.off, t.n)
	}
	if err != nil && isLost(err) && p.ctx.Err() == nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	j.busy--
	if err != nil {
		p.failLocked(c, j, blame, err)
		return nil
	}
	j.left -= t.n
	j.meter.add(int(t.n))
	if j.left == 0 && !j.done {
		p.completeLocked(l, j)
	}
	p.wake.Broadcast()
	return nil
}

// completeLocked finishes j, whose bytes are all there, over l's
// connection; the caller holds mu (released meanwhile).
func (p *pool) completeLocked(l *lane, j *job) {
	j.done = true
	p.mu.Unlock()
	j.meter.finish()
	if l.hj == j {
		l.closeHandle()
	}
	blame, err := p.cp.finish(l.cn.c, j)
	if err != nil {
		p.cp.abort(l.cn.c, j, err)
		p.col.failAt(j.seq, blame, err)
	}
	p.mu.Lock()
}

// failLocked records j's failure and removes what it left through c; the
// caller holds mu (released meanwhile).
func (p *pool) failLocked(c *sftp.Client, j *job, blame string, err error) {
	if j.done {
		return
	}
	j.done = true
	p.waiting -= j.size - j.next
	p.mu.Unlock()
	j.meter.finish()
	p.cp.abort(c, j, err)
	p.col.failAt(j.seq, blame, err)
	p.mu.Lock()
}

// name is the file's name in the meter.
func (j *job) name() string { return j.fi.Name() }
