package sshclient

import (
	"strings"
	"testing"
)

func TestEscapeFilter(t *testing.T) {
	tests := []struct {
		name   string
		inputs []string // fed one after another, as separate reads
		sent   string
		acts   []escapeAction
	}{
		{name: "plain", inputs: []string{"ls -l\r"}, sent: "ls -l\r"},
		{name: "~. at the start", inputs: []string{"~."}, acts: []escapeAction{escapeDisconnect}},
		{name: "~. after a newline", inputs: []string{"echo\r~.rest"}, sent: "echo\r", acts: []escapeAction{escapeDisconnect}},
		{name: "~. after \\n", inputs: []string{"a\n~."}, sent: "a\n", acts: []escapeAction{escapeDisconnect}},
		{name: "~. split across reads", inputs: []string{"x\r~", "."}, sent: "x\r", acts: []escapeAction{escapeDisconnect}},
		{name: "~ mid-line is literal", inputs: []string{"cd ~.\r"}, sent: "cd ~.\r"},
		{name: "~~ sends one ~", inputs: []string{"\r~~.\r"}, sent: "\r~.\r"},
		{name: "~x sends both", inputs: []string{"~x"}, sent: "~x"},
		{name: "~? then ~. still at line start", inputs: []string{"\r~?~."}, sent: "\r", acts: []escapeAction{escapeHelp, escapeDisconnect}},
		{name: "~B", inputs: []string{"~Bz"}, sent: "z", acts: []escapeAction{escapeBreak}},
		{name: "~~ ends the line start", inputs: []string{"~~~."}, sent: "~~."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEscapeFilter('~')
			var sent strings.Builder
			var acts []escapeAction
			for _, in := range tt.inputs {
				p := []byte(in)
				for len(p) > 0 {
					out, act, rest := e.filter(p)
					sent.Write(out)
					if act != escapeNone {
						acts = append(acts, act)
						if act == escapeDisconnect {
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
	e := newEscapeFilter(0x1d)
	if out, act, _ := e.filter([]byte("~.\r\x1d.")); string(out) != "~.\r" || act != escapeDisconnect {
		t.Errorf("^] escape: %q %v", out, act)
	}
	if h := escapeHelpText('~'); !strings.Contains(h, " ~.   - terminate connection\r\n") || !strings.HasPrefix(h, "~?\r\n") {
		t.Errorf("help text %q", h)
	}
}
