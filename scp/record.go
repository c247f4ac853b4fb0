package scp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"time"
)

// A record is one control line of the legacy scp protocol (see the
// package documentation):
//
//	C0644 1234 name\n   file:      kind 'C', mode, size, name
//	D0755 0 name\n      directory: kind 'D', mode, 0, name
//	E\n                 end of directory
//	T1700000000 0 1700000001 0\n
//	                    times: mtime seconds and microseconds, then
//	                    atime seconds and microseconds
type record struct {
	kind  byte // 'C', 'D', 'E' or 'T'
	mode  fs.FileMode
	size  int64
	name  string
	mtime time.Time
	atime time.Time
}

// maxLine bounds a control line or message read from the peer.
const maxLine = 64 << 10

// Answers of the legacy protocol.
const (
	ackOK    = 0
	ackWarn  = 1 // this file failed; a message line follows
	ackFatal = 2 // the transfer failed; a message line follows
)

var errBadRecord = errors.New("scp: protocol error")

// parseRecord parses a control line without its '\n'.
func parseRecord(line string) (record, error) {
	bad := func(why string) (record, error) {
		return record{}, fmt.Errorf("%w: %s in %q", errBadRecord, why, clipLine(line))
	}
	if line == "" {
		return bad("empty record")
	}
	r := record{kind: line[0]}
	rest := line[1:]
	switch r.kind {
	case 'E':
		if rest != "" {
			return bad("trailing bytes")
		}
		return r, nil
	case 'T':
		f := strings.Split(rest, " ")
		if len(f) != 4 {
			return bad("want 4 times")
		}
		var v [4]int64
		for i, s := range f {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 0 || (i%2 == 1 && n > 999_999) || !isDigits(s) {
				return bad("bad time")
			}
			v[i] = n
		}
		r.mtime = time.Unix(v[0], v[1]*1000)
		r.atime = time.Unix(v[2], v[3]*1000)
		return r, nil
	case 'C', 'D':
		if len(rest) < 5 || rest[4] != ' ' {
			return bad("bad mode")
		}
		var m uint32
		for _, c := range rest[:4] {
			if c < '0' || c > '7' {
				return bad("bad mode")
			}
			m = m<<3 | uint32(c-'0')
		}
		r.mode = goMode(m)
		sizeStr, name, ok := strings.Cut(rest[5:], " ")
		if !ok || !isDigits(sizeStr) {
			return bad("bad size")
		}
		n, err := strconv.ParseInt(sizeStr, 10, 64)
		if err != nil {
			return bad("bad size")
		}
		r.size, r.name = n, name
		if r.kind == 'D' {
			r.mode |= fs.ModeDir
			r.size = 0 // a directory's size means nothing
		}
		return r, nil
	}
	return bad("unknown record")
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// String formats r as its control line, '\n' included.
func (r record) String() string {
	switch r.kind {
	case 'E':
		return "E\n"
	case 'T':
		return fmt.Sprintf("T%d %d %d %d\n", unixSec(r.mtime), r.mtime.Nanosecond()/1000, unixSec(r.atime), r.atime.Nanosecond()/1000)
	case 'D':
		return fmt.Sprintf("D%04o 0 %s\n", unixMode(r.mode), r.name)
	}
	return fmt.Sprintf("%c%04o %d %s\n", r.kind, unixMode(r.mode), r.size, r.name)
}

// unixSec is t's Unix time, 0 for times before 1970 (which the protocol
// cannot carry).
func unixSec(t time.Time) int64 { return max(t.Unix(), 0) }

// unixMode is the 12 permission bits of m as Unix spells them.
func unixMode(m fs.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}

// goMode is the inverse of unixMode.
func goMode(u uint32) fs.FileMode {
	m := fs.FileMode(u & 0o777)
	if u&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if u&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if u&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// readLine reads a line of at most maxLine bytes and returns it without
// its '\n'.
func readLine(r *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, err := r.ReadSlice('\n')
		b = append(b, chunk...)
		if len(b) > maxLine {
			return "", fmt.Errorf("%w: line longer than %d bytes", errBadRecord, maxLine)
		}
		switch {
		case err == nil:
			return string(b[:len(b)-1]), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(b) > 0:
			return "", errLost
		default:
			return "", err
		}
	}
}

// clipLine shortens s for an error message.
func clipLine(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// ackError is a 1 or 2 answer, with the peer's message.
type ackError struct {
	fatal bool
	msg   string // "scp: " removed
}

func (e *ackError) Error() string { return "scp: " + e.msg }

// fileError turns the message into a FileError: "path: reason" as the
// remote scp writes it, or the message as the reason of file when it
// names no path.
func (e *ackError) fileError(file string) *FileError {
	if i := strings.LastIndex(e.msg, ": "); i > 0 {
		return &FileError{Path: e.msg[:i], Err: &RemoteError{Message: e.msg[i+2:]}}
	}
	return &FileError{Path: file, Err: &RemoteError{Message: e.msg}}
}

// readAck reads the peer's answer: nil for 0, an *ackError for 1 and 2,
// errLost at the end of the stream.
func readAck(r *bufio.Reader) error {
	b, err := r.ReadByte()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return errLost
		}
		return err
	}
	switch b {
	case ackOK:
		return nil
	case ackWarn, ackFatal:
		line, err := readLine(r)
		if err != nil {
			return err
		}
		return &ackError{fatal: b == ackFatal, msg: strings.TrimPrefix(line, "scp: ")}
	}
	line, _ := readLine(r)
	return fmt.Errorf("%w: unexpected answer %q", errBadRecord, clipLine(string(b)+line))
}

// warning formats a 1 answer for a failure of path.
func warning(path string, err error) string {
	msg := strings.ReplaceAll(path+": "+Reason(err), "\n", " ")
	return "\x01scp: " + msg + "\n"
}
