package scp

import (
	"bufio"
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"
)

func TestParseRecord(t *testing.T) {
	for _, tc := range []struct {
		line string
		want record
	}{
		{"C0644 1234 name", record{kind: 'C', mode: 0o644, size: 1234, name: "name"}},
		{"C4755 0 with space", record{kind: 'C', mode: 0o755 | fs.ModeSetuid, size: 0, name: "with space"}},
		{"D0750 0 dir", record{kind: 'D', mode: 0o750 | fs.ModeDir, name: "dir"}},
		{"E", record{kind: 'E'}},
		{"T1700000000 250000 1600000000 0", record{kind: 'T',
			mtime: time.Unix(1700000000, 250_000_000), atime: time.Unix(1600000000, 0)}},
	} {
		got, err := parseRecord(tc.line)
		if err != nil {
			t.Errorf("parseRecord(%q): %v", tc.line, err)
			continue
		}
		if got.kind != tc.want.kind || got.mode != tc.want.mode || got.size != tc.want.size || got.name != tc.want.name ||
			!got.mtime.Equal(tc.want.mtime) || !got.atime.Equal(tc.want.atime) {
			t.Errorf("parseRecord(%q) = %+v, want %+v", tc.line, got, tc.want)
		}
		if s := got.String(); s != tc.line+"\n" {
			t.Errorf("String() = %q, want %q", s, tc.line+"\n")
		}
	}
	for _, bad := range []string{
		"", "C", "C0644", "C0644 ", "C0648 1 x", "C644 1 x", "C0644 -1 x", "C0644 +1 x", "C0644 1x",
		"C0644 99999999999999999999 x", "E ", "T1 0 2", "T1 1000000 2 0", "T-1 0 2 0", "X0644 1 x",
	} {
		if r, err := parseRecord(bad); !errors.Is(err, errBadRecord) {
			t.Errorf("parseRecord(%q) = %+v, %v; want a protocol error", bad, r, err)
		}
	}
}

func FuzzParseRecord(f *testing.F) {
	for _, s := range []string{"C0644 1 a", "D0755 0 d", "E", "T1 2 3 4", "C0644 1 a b", "\x01scp: x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		r, err := parseRecord(line)
		if err != nil {
			return
		}
		if r.size < 0 {
			t.Fatalf("negative size from %q", line)
		}
		again, err := parseRecord(strings.TrimSuffix(r.String(), "\n"))
		if err != nil || again.kind != r.kind || again.mode != r.mode || again.size != r.size || again.name != r.name ||
			!again.mtime.Equal(r.mtime) || !again.atime.Equal(r.atime) {
			t.Fatalf("%q → %q → %+v, %v; want %+v", line, r.String(), again, err, r)
		}
	})
}

func TestReadAck(t *testing.T) {
	for _, tc := range []struct {
		in      string
		wantErr string
		fatal   bool
	}{
		{"\x00", "", false},
		{"\x01scp: /x: No such file or directory\n", "scp: /x: No such file or directory", false},
		{"\x02scp: fatal thing\n", "scp: fatal thing", true},
		{"", "lost connection", false},
		{"\x01no newline", "lost connection", false},
		{"Welcome to the shell\n", "protocol error", false},
	} {
		err := readAck(bufio.NewReader(strings.NewReader(tc.in)))
		switch {
		case tc.wantErr == "" && err != nil, tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("readAck(%q) = %v, want %q", tc.in, err, tc.wantErr)
		}
		var ae *ackError
		if errors.As(err, &ae) && ae.fatal != tc.fatal {
			t.Errorf("readAck(%q): fatal %v", tc.in, ae.fatal)
		}
	}
	long := "\x01" + strings.Repeat("x", maxLine+10) + "\n"
	if err := readAck(bufio.NewReader(strings.NewReader(long))); !errors.Is(err, errBadRecord) {
		t.Errorf("a %d-byte message: %v", len(long), err)
	}
}

func TestRemoteErrorIs(t *testing.T) {
	ae := &ackError{msg: "/a: b: No such file or directory"}
	fe := ae.fileError("x")
	if fe.Path != "/a: b" || !errors.Is(fe, fs.ErrNotExist) || errors.Is(fe, fs.ErrPermission) {
		t.Errorf("%+v", fe)
	}
	if fe := (&ackError{msg: "Permission denied"}).fileError("x"); fe.Path != "x" || !errors.Is(fe, fs.ErrPermission) {
		t.Errorf("%+v", fe)
	}
}
