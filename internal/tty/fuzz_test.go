package tty

import (
	"bytes"
	"testing"
)

func FuzzEscapeFilter(f *testing.F) {
	f.Add([]byte("ls\r~.x"), 3)
	f.Add([]byte("~~~?~B\n~x"), 1)
	f.Fuzz(func(t *testing.T, in []byte, split int) {
		run := func(chunks [][]byte) ([]byte, []Action) {
			e := NewEscape('~')
			var out []byte
			var acts []Action
			for _, c := range chunks {
				for len(c) > 0 {
					o, act, rest := e.Filter(c)
					out = append(out, o...)
					if act == None {
						break
					}
					acts = append(acts, act)
					if act == Disconnect {
						return out, acts
					}
					c = rest
				}
			}
			return out, acts
		}
		whole, wholeActs := run([][]byte{in})
		if split < 0 {
			split = -split
		}
		if len(in) > 0 {
			split %= len(in) + 1
		} else {
			split = 0
		}
		parts, partActs := run([][]byte{in[:split], in[split:]})
		if !bytes.Equal(whole, parts) || len(wholeActs) != len(partActs) {
			t.Fatalf("%q split at %d: %q %v vs %q %v", in, split, whole, wholeActs, parts, partActs)
		}
		if !bytes.Contains(in, []byte("~")) && !bytes.Equal(whole, in) {
			t.Fatalf("%q without escapes came out as %q", in, whole)
		}
	})
}
