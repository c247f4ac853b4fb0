package scp

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// refresh is how often a meter is redrawn while bytes flow.
const refresh = 500 * time.Millisecond

// defaultWidth is the line width of a meter whose writer is no terminal.
const defaultWidth = 80

// meter is one file's progress line: name, percent, bytes, rate and ETA,
// redrawn in place with \r, and ended with the total time and a newline.
// A nil *meter draws nothing.
type meter struct {
	w     io.Writer
	name  string
	size  int64
	width int
	now   func() time.Time

	mu    sync.Mutex
	start time.Time
	last  time.Time // of the last draw
	n     int64
}

// newMeter returns the meter of a file of size bytes, or nil without
// o.Progress.
func newMeter(o *Options, name string, size int64) *meter {
	if o.Progress == nil {
		return nil
	}
	m := &meter{w: o.Progress, name: name, size: size, width: termWidth(o.Progress), now: time.Now}
	m.begin()
	return m
}

func (m *meter) begin() {
	m.start = m.now()
	m.draw(m.start, false)
}

// termWidth is w's width when it is a terminal, else defaultWidth.
func termWidth(w io.Writer) int {
	if lw, ok := w.(*lockedWriter); ok {
		w = lw.w
	}
	if f, ok := w.(*os.File); ok {
		if c, _, err := term.GetSize(int(f.Fd())); err == nil && c > 0 {
			return c
		}
	}
	return defaultWidth
}

// add counts n more bytes and redraws when refresh has passed.
func (m *meter) add(n int) {
	if m == nil || n == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n += int64(n)
	if t := m.now(); t.Sub(m.last) >= refresh {
		m.draw(t, false)
	}
}

// finish draws the final line: the bytes done and the total time.
func (m *meter) finish() {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.draw(m.now(), true)
}

// draw writes the line for time t; the caller holds mu (or owns m).
func (m *meter) draw(t time.Time, final bool) {
	m.last = t
	_, _ = io.WriteString(m.w, m.line(t, final))
}

// line is "\r" and the meter at time t, ending in "\n" when final.
func (m *meter) line(t time.Time, final bool) string {
	elapsed := t.Sub(m.start)
	pct := 100
	if m.size > 0 && m.n < m.size {
		pct = int(m.n * 100 / m.size)
	}
	var rate float64
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(m.n) / s
	}
	var clock string
	if left := m.size - m.n; !final && left > 0 {
		if rate > 0 {
			clock = duration(time.Duration(float64(left)/rate*float64(time.Second))) + " ETA"
		} else {
			clock = "--:-- ETA"
		}
	} else {
		clock = duration(elapsed) + "    "
	}
	stats := fmt.Sprintf(" %3d%% %6s %8s/s %s", pct, size(m.n), size(int64(rate)), clock)
	nameWidth := m.width - len(stats) - 1
	var b strings.Builder
	b.WriteByte('\r')
	if nameWidth > 0 {
		name := []rune(m.name)
		if len(name) > nameWidth {
			name = name[:nameWidth]
		}
		b.WriteString(string(name))
		b.WriteString(strings.Repeat(" ", nameWidth-len(name)))
	}
	b.WriteString(stats)
	if final {
		b.WriteByte('\n')
	}
	return b.String()
}

// size formats a byte count in at most four digits and a binary unit:
// "512B", "1023KB", "64MB".
func size(n int64) string {
	const units = "BKMGTPE"
	i := 0
	for n >= 10000 && i < len(units)-1 {
		n /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%dB", n)
	}
	return fmt.Sprintf("%d%cB", n, units[i])
}

// duration formats d as "mm:ss", or "h:mm:ss" from an hour on.
func duration(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%02d:%02d", s/60, s%60)
}

// counter counts what passes through it into a meter, and fails once ctx
// is done so that a transfer in progress can be cancelled.
type counter struct {
	ctx context.Context
	r   io.Reader
	w   io.Writer
	m   *meter
	n   int64
	// err is the first error of r or w themselves (not ctx's), so that
	// a failure is blamed on the right side.
	err error
}

func (c *counter) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	c.m.add(n)
	if err != nil && err != io.EOF && c.err == nil {
		c.err = err
	}
	return n, err
}

func (c *counter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.m.add(n)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}
