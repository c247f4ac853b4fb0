//go:build linux

package ssmclient

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// terminal is the user's side of a pty: what the program writes to the
// terminal collects in out; type sends keystrokes.
type terminal struct {
	ptm  *os.File
	path string // the program's side, for TTYPrompter.Path

	mu   sync.Mutex
	out  bytes.Buffer
	more chan struct{}
}

func newTerminal(t *testing.T) *terminal {
	t.Helper()
	ptm, pts, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	term := &terminal{ptm: ptm, path: pts.Name(), more: make(chan struct{}, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 256)
		for {
			n, err := ptm.Read(buf)
			term.mu.Lock()
			term.out.Write(buf[:n])
			term.mu.Unlock()
			select {
			case term.more <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		// Keep the program's side open until now, so that the user's
		// side never sees EOF while a prompt runs.
		pts.Close()
		ptm.Close()
		<-done
	})
	return term
}

// waitFor waits until the terminal has shown s.
func (term *terminal) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		term.mu.Lock()
		ok := strings.Contains(term.out.String(), s)
		term.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-term.more:
		case <-deadline:
			t.Fatalf("terminal never showed %q; it shows %q", s, term.shown())
		}
	}
}

// waitEchoOff waits until the program has turned echo off on the pty, so
// that keystrokes typed next cannot be echoed by a race.
func (term *terminal) waitEchoOff(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(term.path, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		tio, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatal(err)
		}
		if tio.Lflag&unix.ECHO == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("echo never turned off")
		}
		time.Sleep(time.Millisecond) // polling terminal state, not timing
	}
}

func (term *terminal) shown() string {
	term.mu.Lock()
	defer term.mu.Unlock()
	return term.out.String()
}

func (term *terminal) typeLine(t *testing.T, s string) {
	t.Helper()
	if _, err := term.ptm.WriteString(s + "\r"); err != nil {
		t.Fatal(err)
	}
}

type promptResult struct {
	answer string
	err    error
}

func prompt(p Prompter, msg string, hidden bool) <-chan promptResult {
	ch := make(chan promptResult, 1)
	go func() {
		a, err := p.Prompt(msg, hidden)
		ch <- promptResult{a, err}
	}()
	return ch
}

func await(t *testing.T, ch <-chan promptResult) promptResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("prompt did not return")
		return promptResult{}
	}
}

func TestTTYPrompterHidden(t *testing.T) {
	term := newTerminal(t)
	p := &TTYPrompter{Path: term.path}
	ch := prompt(p, "Enter MFA code: ", true)
	term.waitFor(t, "Enter MFA code: ")
	term.waitEchoOff(t)
	term.typeLine(t, "123456")
	r := await(t, ch)
	if r.err != nil || r.answer != "123456" {
		t.Fatalf("Prompt = %q, %v; want 123456", r.answer, r.err)
	}
	if strings.Contains(term.shown(), "123456") {
		t.Errorf("hidden input was echoed: %q", term.shown())
	}
}

func TestTTYPrompterVisible(t *testing.T) {
	term := newTerminal(t)
	p := &TTYPrompter{Path: term.path}
	ch := prompt(p, "Name? ", false)
	term.waitFor(t, "Name? ")
	term.typeLine(t, "alice")
	r := await(t, ch)
	if r.err != nil || r.answer != "alice" {
		t.Fatalf("Prompt = %q, %v; want alice", r.answer, r.err)
	}
	term.waitFor(t, "alice") // echoed
}
