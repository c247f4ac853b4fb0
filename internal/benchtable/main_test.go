package main

import (
	"strings"
	"testing"
)

const sample = `goos: linux
pkg: github.com/ssmssh/ssmssh/proxy
BenchmarkProxy/scp-down/direct/rtt=0ms-2         	       1	1331234 ns/op	 787.76 MB/s	       751.3 MiB/s
BenchmarkProxy/scp-down/ssmproxy/rtt=0ms/paced-2 	       1	17633123 ns/op	   0.95 MB/s	         0.9100 MiB/s	        19.67 ssmproxy-RSS-MiB
BenchmarkProxy/scp-down/ssmproxy/rtt=0ms/unpaced-2         	       1	4653811309 ns/op	   1.80 MB/s	        85.12 MiB/s	        21.13 ssmproxy-RSS-MiB
BenchmarkProxy/ssh-true/ssmproxy/rtt=0ms/paced-2           	       1	3550038685 ns/op	      355.0 ms/run
BenchmarkProxy/ssh-true/ssmproxy/rtt=0ms/unpaced-2           	       1	3550038685 ns/op	      300.0 ms/run
BenchmarkProxy/ssh-true/ssmproxy/rtt=0ms/unpaced-2           	       1	3550038685 ns/op	      310.0 ms/run
BenchmarkLocalForward/down/conns=1/paced-2         	       1	1331234 ns/op	 0.90 MB/s
BenchmarkLocalForward/down/conns=1/unpaced-2         	       1	1331234 ns/op	 90.0 MB/s
BenchmarkLocalForward/down/conns=1/direct-2         	       1	1331234 ns/op	 900 MB/s
--- FAIL: BenchmarkOther
BenchmarkSession1KiB-2   	   10000	    123456 ns/op	  1048.58 MB/s
ok  	github.com/ssmssh/ssmssh/proxy	75.157s
`

// TestTable: paced and unpaced variants share a row, paced first; rows
// without variants, and …/direct variants, fill the no-agent column;
// repeated runs are averaged.
func TestTable(t *testing.T) {
	rows, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	got := format(rows)
	t.Log("\n" + got)
	lines := strings.Split(strings.TrimSpace(got), "\n")
	want := [][]string{
		{"benchmark", "paced like the real agent", "unpaced", "no agent"},
		{"Proxy/scp-down/direct/rtt=0ms", "-", "-", "751 MiB/s"},
		{"Proxy/scp-down/ssmproxy/rtt=0ms", "0.91 MiB/s", "85.1 MiB/s", "-"},
		{"Proxy/ssh-true/ssmproxy/rtt=0ms", "355 ms", "305 ms", "-"},
		{"LocalForward/down/conns=1", "0.86 MiB/s", "85.8 MiB/s", "858 MiB/s"},
		{"Session1KiB", "-", "-", "1000 MiB/s"},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d", len(lines), len(want))
	}
	for i, cells := range want {
		at := 0
		for _, c := range cells {
			j := strings.Index(lines[i][at:], c)
			if j < 0 {
				t.Errorf("line %d %q: no %q after column %d", i, lines[i], c, at)
				break
			}
			at += j + len(c)
		}
	}
}

// FuzzParse: any input parses without panicking into rows that format.
func FuzzParse(f *testing.F) {
	f.Add(sample)
	f.Add("BenchmarkX/paced-2 1 5 MiB/s\nBenchmarkX/paced-2 1 5 ms/run\n")
	f.Fuzz(func(t *testing.T, in string) {
		rows, err := parse(strings.NewReader(in))
		if err != nil {
			return
		}
		_ = format(rows)
	})
}
