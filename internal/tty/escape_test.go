package tty

import (
	"strings"
	"testing"
)

func TestEscapeFilter(t *testing.T) {
	tests := []struct {
		name   string
		inputs []string // fed one after another, as separate reads
		sent   string
		acts   []Action
	}{
		{name: "plain", inputs: []string{"ls -l\r"}, sent: "ls -l\r"},
		{name: "~. at the start", inputs: []string{"~."}, acts: []Action{Disconnect}},
		{name: "~. after a newline", inputs: []string{"echo\r~.rest"}, sent: "echo\r", acts: []Action{Disconnect}},
		{name: "~. after \\n", inputs: []string{"a\n~."}, sent: "a\n", acts: []Action{Disconnect}},
		{name: "~. split across reads", inputs: []string{"x\r~", "."}, sent: "x\r", acts: []Action{Disconnect}},
		{name: "~ mid-line is literal", inputs: []string{"cd ~.\r"}, sent: "cd ~.\r"},
		{name: "~~ sends one ~", inputs: []string{"\r~~.\r"}, sent: "\r~.\r"},
		{name: "~x sends both", inputs: []string{"~x"}, sent: "~x"},
		{name: "~? then ~. still at line start", inputs: []string{"\r~?~."}, sent: "\r", acts: []Action{Help, Disconnect}},
		{name: "~B", inputs: []string{"~Bz"}, sent: "z", acts: []Action{Break}},
		{name: "~~ ends the line start", inputs: []string{"~~~."}, sent: "~~."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewEscape('~')
			e.Break = true
			var sent strings.Builder
			var acts []Action
			for _, in := range tt.inputs {
				p := []byte(in)
				for len(p) > 0 {
					out, act, rest := e.Filter(p)
					sent.Write(out)
					if act != None {
						acts = append(acts, act)
						if act == Disconnect {
							rest = nil
						}
					}
					p = rest
				}
			}
			if sent.String() != tt.sent || len(acts) != len(tt.acts) {
				t.Fatalf("sent %q actions %v; want %q %v", sent.String(), acts, tt.sent, tt.acts)
			}
			for i := range acts {
				if acts[i] != tt.acts[i] {
					t.Errorf("actions %v, want %v", acts, tt.acts)
				}
			}
		})
	}
	// Another escape character.
	e := NewEscape(0x1d)
	if out, act, _ := e.Filter([]byte("~.\r\x1d.")); string(out) != "~.\r" || act != Disconnect {
		t.Errorf("^] escape: %q %v", out, act)
	}
	if h := EscapeHelp('~', true); !strings.Contains(h, " ~.   - terminate connection\r\n") || !strings.HasPrefix(h, "~?\r\n") {
		t.Errorf("help text %q", h)
	}
	// Without Break, ~B is sent as typed and the help leaves it out.
	if out, act, _ := NewEscape('~').Filter([]byte("~Bz")); string(out) != "~Bz" || act != None {
		t.Errorf("~B without Break: %q %v", out, act)
	}
	if h := EscapeHelp('~', false); strings.Contains(h, "BREAK") {
		t.Errorf("help text without break %q", h)
	}
}
