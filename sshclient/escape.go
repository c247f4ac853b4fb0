package sshclient

import "strings"

// escapeAction is what an escape sequence asks for.
type escapeAction int

const (
	escapeNone       escapeAction = iota
	escapeDisconnect              // ~.
	escapeHelp                    // ~?
	escapeBreak                   // ~B
)

// escapeFilter recognises OpenSSH's escape sequences in what the user
// types: the escape character (normally '~') right after a newline (or
// at the very start) followed by '.', '?', 'B' or the escape character
// itself. Anything else after the escape character is sent with it, as
// OpenSSH does.
type escapeFilter struct {
	char      byte
	pending   bool // the escape character was just seen after a newline
	afterLine bool // the last character sent ended a line
}

func newEscapeFilter(char byte) *escapeFilter {
	return &escapeFilter{char: char, afterLine: true}
}

// filter returns the bytes of in to send, up to the first escape action,
// the action, and the input that follows it (to be filtered next).
func (e *escapeFilter) filter(in []byte) (out []byte, act escapeAction, rest []byte) {
	out = make([]byte, 0, len(in))
	for i := 0; i < len(in); i++ {
		ch := in[i]
		if e.pending {
			e.pending = false
			switch ch {
			case '.':
				return out, escapeDisconnect, in[i+1:]
			case '?':
				return out, escapeHelp, in[i+1:]
			case 'B':
				return out, escapeBreak, in[i+1:]
			case e.char:
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
	return out, escapeNone, nil
}

// escapeHelp is the ~? text, in OpenSSH's words, for a raw terminal.
func escapeHelpText(char byte) string {
	c := string(char)
	lines := []string{
		c + "?",
		"Supported escape sequences:",
		" " + c + ".   - terminate connection",
		" " + c + "B   - send a BREAK to the remote system",
		" " + c + "?   - this message",
		" " + c + c + "  - send the escape character by typing it twice",
		"(Note that escapes are only recognized immediately after newline.)",
	}
	return strings.Join(lines, "\r\n") + "\r\n"
}
