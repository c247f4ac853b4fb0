package tty

import "strings"

// Action is what an escape sequence asks for.
type Action int

// The escape sequences' actions.
const (
	None       Action = iota
	Disconnect        // ~.
	Help              // ~?
	Break             // ~B (only when Escape.Break is set)
)

// Escape recognises OpenSSH's escape sequences in what the user types:
// the escape character (normally '~') right after a newline (or at the
// very start) followed by '.', '?', 'B' (when Break is set) or the escape
// character itself. Anything else after the escape character is sent with
// it, as OpenSSH does.
type Escape struct {
	// Break makes ~B an escape (a session that can send a BREAK);
	// otherwise ~B is sent as typed.
	Break bool

	char      byte
	pending   bool // the escape character was just seen after a newline
	afterLine bool // the last character sent ended a line
}

// NewEscape returns a filter for the escape character char.
func NewEscape(char byte) *Escape {
	return &Escape{char: char, afterLine: true}
}

// Char returns the escape character.
func (e *Escape) Char() byte { return e.char }

// Filter returns the bytes of in to send, up to the first escape action,
// the action, and the input that follows it (to be filtered next).
func (e *Escape) Filter(in []byte) (out []byte, act Action, rest []byte) {
	out = make([]byte, 0, len(in))
	for i := 0; i < len(in); i++ {
		ch := in[i]
		if e.pending {
			e.pending = false
			switch {
			case ch == '.':
				return out, Disconnect, in[i+1:]
			case ch == '?':
				return out, Help, in[i+1:]
			case ch == 'B' && e.Break:
				return out, Break, in[i+1:]
			case ch == e.char:
				// "~~" sends one escape character.
			default:
				out = append(out, e.char)
			}
		} else if e.afterLine && ch == e.char {
			e.pending = true
			continue
		}
		e.afterLine = ch == '\r' || ch == '\n'
		out = append(out, ch)
	}
	return out, None, nil
}

// EscapeHelp is the ~? text, in OpenSSH's words, for a raw terminal;
// withBreak lists ~B.
func EscapeHelp(char byte, withBreak bool) string {
	c := string(char)
	lines := []string{
		c + "?",
		"Supported escape sequences:",
		" " + c + ".   - terminate connection",
	}
	if withBreak {
		lines = append(lines, " "+c+"B   - send a BREAK to the remote system")
	}
	lines = append(lines,
		" "+c+"?   - this message",
		" "+c+c+"  - send the escape character by typing it twice",
		"(Note that escapes are only recognized immediately after newline.)",
	)
	return strings.Join(lines, "\r\n") + "\r\n"
}
