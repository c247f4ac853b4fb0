package e2etest

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// Log collects the diagnostics of the emulator and its agents. It keeps
// them quiet while a test passes and prints the last lines when it fails
// (or always, with -v and E2ETEST_LOG set). It is safe to use from
// goroutines that outlive the test.
type Log struct {
	mu    sync.Mutex
	lines []string
	done  bool
}

// maxLogLines bounds what a Log keeps (the newest lines win).
const maxLogLines = 4000

// NewLog returns a Log that prints itself in t.Cleanup when t failed.
// Register it before anything that logs into it, so that its cleanup runs
// last.
func NewLog(t testing.TB) *Log {
	l := &Log{}
	t.Cleanup(func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.done = true
		if t.Failed() || testing.Verbose() && os.Getenv("E2ETEST_LOG") != "" {
			t.Logf("emulator log (last %d lines):\n%s", len(l.lines), strings.Join(l.lines, "\n"))
		}
	})
	return l
}

// Logf records a line; it matches the Logf fields of every component.
func (l *Log) Logf(format string, args ...any) {
	line := time.Now().Format("15:04:05.000 ") + fmt.Sprintf(format, args...)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return
	}
	if len(l.lines) == maxLogLines {
		l.lines = append(l.lines[:0], l.lines[maxLogLines/2:]...)
	}
	l.lines = append(l.lines, line)
}

// Count returns how many lines contain sub.
func (l *Log) Count(sub string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.Contains(line, sub) {
			n++
		}
	}
	return n
}
