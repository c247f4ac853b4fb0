package scp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// These tests hold one side of the legacy protocol to a scripted other
// side: what a hostile or failing remote scp would send.

type nopCloser struct{ *bytes.Buffer }

func (nopCloser) Close() error { return nil }

// scripted is a remote whose output is script; what we send collects in
// the returned buffer.
func scripted(script string) (*remote, *bytes.Buffer) {
	var sent bytes.Buffer
	return &remote{
		in:     nopCloser{&sent},
		out:    bufio.NewReader(strings.NewReader(script)),
		stderr: &tail{max: 100},
		stop:   func() bool { return true },
	}, &sent
}

// sink runs our sink against script (the remote source's output) into
// dst, for sources.
func sink(t *testing.T, script, dst string, o Options, sources ...string) (*scpDownload, string, error) {
	t.Helper()
	fi, err := os.Stat(dst)
	r, sent := scripted(script)
	d := &scpDownload{o: &o, r: r, dst: dst, dstDir: err == nil && fi.IsDir(),
		patterns: patterns(sources), collector: collector{ctx: context.Background()}}
	err = d.run()
	return d, sent.String(), err
}

func TestSinkRefusesUnsafeNames(t *testing.T) {
	for _, name := range []string{"../evil", "a/b", ".", "..", ""} {
		dir := t.TempDir()
		_, _, err := sink(t, "C0644 1 "+name+"\nX\x00", dir, Options{}, "*")
		if !errors.Is(err, ErrBadName) && !errors.Is(err, errBadRecord) {
			t.Errorf("name %q: %v, want a refusal", name, err)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("name %q: wrote %v", name, ents)
		}
	}
}

// TestSinkChecksRequestedNames: a top-level name that matches no
// requested pattern is refused (CVE-2019-6111); names inside a
// directory are not patterns.
func TestSinkChecksRequestedNames(t *testing.T) {
	dir := t.TempDir()
	_, _, err := sink(t, "C0644 1 .bashrc\nX\x00", dir, Options{}, "/srv/*.txt")
	if !errors.Is(err, ErrBadName) {
		t.Errorf("unrequested name: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".bashrc")); err == nil {
		t.Error(".bashrc written")
	}
	d, sent, err := sink(t, "C0644 1 a.txt\nX\x00", dir, Options{}, "/srv/*.txt")
	if err != nil || d.err() != nil || read(t, filepath.Join(dir, "a.txt")) != "X" || sent != "\x00\x00" {
		t.Errorf("matching name: %v, %v, sent %q", err, d.err(), sent)
	}
	d, _, err = sink(t, "D0755 0 d\nC0644 1 anything\nY\x00E\n", dir, Options{Recursive: true}, "/srv/d")
	if err != nil || d.err() != nil || read(t, filepath.Join(dir, "d", "anything")) != "Y" {
		t.Errorf("inside a directory: %v, %v", err, d.err())
	}
}

// TestSinkSourceFailsMidFile: the source's 1 after the data fails the
// file, which is removed.
func TestSinkSourceFailsMidFile(t *testing.T) {
	dir := t.TempDir()
	d, sent, err := sink(t, "C0644 4 f\nabcd\x01scp: /r/f: Input/output error\nC0644 1 g\nG\x00", dir, Options{}, "f", "g")
	if err != nil {
		t.Fatal(err)
	}
	errs := fileErrors(t, d.err())
	if len(errs) != 1 || errs[0].Message() != "/r/f: Input/output error" {
		t.Errorf("errors %v", d.err())
	}
	if _, err := os.Stat(filepath.Join(dir, "f")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the failed file is left: %v", err)
	}
	if read(t, filepath.Join(dir, "g")) != "G" || sent != "\x00\x00\x00\x00" {
		t.Errorf("g not received, or sent %q", sent)
	}
}

// TestSinkStreamEndsMidFile: a connection lost in the data leaves no
// file behind and ends the transfer.
func TestSinkStreamEndsMidFile(t *testing.T) {
	dir := t.TempDir()
	d, _, err := sink(t, "C0644 10 f\nabc", dir, Options{}, "f")
	if err != nil {
		t.Fatal(err)
	}
	if errs := fileErrors(t, d.err()); len(errs) != 1 || !errors.Is(errs[0], errLost) || !d.stop {
		t.Errorf("errors %v", d.err())
	}
	if _, err := os.Stat(filepath.Join(dir, "f")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the partial file is left: %v", err)
	}
}

func TestSinkProtocolErrors(t *testing.T) {
	for _, script := range []string{
		"D0755 0 d\nE\n",         // a directory without -r
		"E\n",                    // E outside a directory
		"hello from .bashrc\n",   // not a record
		"C0644 1 f",              // no newline
		"D0755 0 d\nC0644 1 f\n", // ends inside a directory
	} {
		_, _, err := sink(t, script, t.TempDir(), Options{}, "*")
		if err == nil {
			t.Errorf("%q: no error", script)
		}
	}
}

// TestSinkPreserve applies T records to files and, at E, directories.
func TestSinkPreserve(t *testing.T) {
	dir := t.TempDir()
	mt, ft := time.Unix(1500000000, 0), time.Unix(1400000000, 0)
	script := "T1500000000 0 1500000001 0\nD0750 0 d\nT1400000000 0 1400000001 0\nC0600 1 f\nF\x00E\n"
	d, _, err := sink(t, script, filepath.Join(dir, "copy"), Options{Recursive: true, Preserve: true}, "d")
	if err != nil || d.err() != nil {
		t.Fatal(err, d.err())
	}
	for p, want := range map[string]struct {
		mode fs.FileMode
		mt   time.Time
	}{"copy": {0o750 | fs.ModeDir, mt}, "copy/f": {0o600, ft}} {
		fi, err := os.Stat(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want.mode || !fi.ModTime().Equal(want.mt) {
			t.Errorf("%s: %v %v, want %v %v", p, fi.Mode(), fi.ModTime(), want.mode, want.mt)
		}
	}
}

// TestSourceSkipsRefusedFile: when the sink answers a C record with 1,
// no data follows and the next file is sent.
func TestSourceSkipsRefusedFile(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a"), "A")
	write(t, filepath.Join(dir, "b"), "B")
	r, sent := scripted("\x01scp: /d/a: Permission denied\n" + "\x00\x00")
	u := &scpUpload{o: &Options{}, collector: collector{ctx: context.Background()}}
	for _, f := range []string{"a", "b"} {
		if u.top(r, filepath.Join(dir, f)) {
			t.Fatalf("%s: aborted", f)
		}
	}
	if want := "C0644 1 a\nC0644 1 b\nB\x00"; sent.String() != want {
		t.Errorf("sent %q, want %q", sent, want)
	}
	errs := fileErrors(t, u.err())
	if len(errs) != 1 || errs[0].Path != "/d/a" || !errors.Is(errs[0], fs.ErrPermission) {
		t.Errorf("errors %v", u.err())
	}
}

// TestSourceFatalAnswer: a 2 answer ends the transfer.
func TestSourceFatalAnswer(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a"), "A")
	r, _ := scripted("\x02scp: disk on fire\n")
	u := &scpUpload{o: &Options{}, collector: collector{ctx: context.Background()}}
	if !u.top(r, filepath.Join(dir, "a")) || !u.stop {
		t.Error("the transfer goes on after a fatal answer")
	}
	if errs := fileErrors(t, u.err()); len(errs) != 1 || !strings.Contains(errs[0].Message(), "disk on fire") {
		t.Errorf("errors %v", u.err())
	}
}

func TestPatterns(t *testing.T) {
	for _, tc := range []struct {
		sources []string
		want    string // joined by |, "nil" for no check
	}{
		{[]string{"~/x.txt", "/srv/*.txt", "dir/"}, "x.txt|*.txt|dir"},
		{[]string{"$HOME/a", "b"}, "a|b"},
		{[]string{"a", "'with space'"}, "nil"},
		{[]string{"$HOME"}, "nil"},
		{[]string{"~"}, "nil"},
		{[]string{""}, "nil"},
		{[]string{"d/{a,b}"}, "nil"},
	} {
		got := "nil"
		if p := patterns(tc.sources); p != nil {
			got = strings.Join(p, "|")
		}
		if got != tc.want {
			t.Errorf("patterns(%q) = %s, want %s", tc.sources, got, tc.want)
		}
	}
}
