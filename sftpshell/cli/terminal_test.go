package cli

import (
	"context"
	"io"
	"strings"
	"testing"
)

// TestNoInterrupt: Ctrl-C typed at the prompt is dropped, everything else
// passes, and a read of nothing but Ctrl-C waits for more.
func TestNoInterrupt(t *testing.T) {
	r := noInterrupt{io.MultiReader(strings.NewReader("\x03"), strings.NewReader("ls\x03 -l\r"))}
	got, err := io.ReadAll(r)
	if err != nil || string(got) != "ls -l\r" {
		t.Errorf("read %q, %v; want %q", got, err, "ls -l\r")
	}
}

// TestInterrupter: an interrupt reaches the command running, and none
// is reported when there is no command.
func TestInterrupter(t *testing.T) {
	var i interrupter
	if i.interrupt() {
		t.Error("interrupt with no command running reported one")
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	i.set(cancel)
	if !i.interrupt() || ctx.Err() == nil {
		t.Error("the running command was not interrupted")
	}
	i.set(nil)
	if i.interrupt() {
		t.Error("interrupt after the command reported one")
	}
}
