package scp

import (
	"strings"
	"testing"
	"time"
)

// TestMeter draws a meter with a made-up clock: the first line at 0%,
// redraws only once refresh has passed, an ETA from the average rate,
// and a final line with the total time, every line equally wide.
func TestMeter(t *testing.T) {
	var out strings.Builder
	now := time.Unix(1000, 0)
	m := &meter{w: &out, name: "file.bin", size: 100 << 20, width: 60, now: func() time.Time { return now }}
	m.begin()
	now = now.Add(100 * time.Millisecond)
	m.add(1 << 20) // too soon to redraw
	now = now.Add(900 * time.Millisecond)
	m.add(9 << 20) // 10 MiB in 1 s: 9 s to go
	now = now.Add(9 * time.Second)
	m.add(90 << 20)
	m.finish()
	lines := strings.SplitAfter(out.String(), "\r")[1:]
	want := []string{
		"file.bin                     0%     0B       0B/s --:-- ETA\r",
		"file.bin                    10%   10MB     10MB/s 00:09 ETA\r",
		"file.bin                   100%  100MB     10MB/s 00:10    \r",
		"file.bin                   100%  100MB     10MB/s 00:10    \n",
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines %q, want %q", len(lines), lines, want)
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d: %q, want %q", i, lines[i], want[i])
		}
		if n := len(strings.TrimRight(lines[i], "\r\n")); n != 59 {
			t.Errorf("line %d is %d wide", i, n)
		}
	}
}

func TestSizeAndDuration(t *testing.T) {
	for n, want := range map[int64]string{0: "0B", 9999: "9999B", 10000: "9KB", 64 << 20: "64MB", 5 << 40: "5120GB"} {
		if got := size(n); got != want {
			t.Errorf("size(%d) = %q, want %q", n, got, want)
		}
	}
	for d, want := range map[time.Duration]string{0: "00:00", 61 * time.Second: "01:01", 3723 * time.Second: "1:02:03"} {
		if got := duration(d); got != want {
			t.Errorf("duration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestNoMeter(t *testing.T) {
	var m *meter = newMeter(&Options{}, "x", 10)
	m.add(5) // nil: nothing, no panic
	m.finish()
}
