package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
)

func main() {
	rows, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchtable: %v\n", err)
		os.Exit(1)
	}
	if len(rows) == 0 {
		fmt.Fprintln(os.Stderr, "benchtable: no benchmark results on stdin")
		os.Exit(1)
	}
	_, _ = io.WriteString(os.Stdout, format(rows))
}

// Variants of a row, as the last element of a sub-benchmark's name says.
const (
	paced   = "paced"
	unpaced = "unpaced"
	noAgent = "" // a benchmark without pace variants
	// direct, as a last name element, is the same transfer without the
	// emulator (BenchmarkLocalForward's …/direct): the no-agent column of
	// its row.
	direct = "direct"
)

// figure is one measurement: the mean of its runs, in unit.
type figure struct {
	sum  float64
	n    int
	unit string
}

func (f *figure) String() string {
	if f == nil || f.n == 0 {
		return "-"
	}
	v := f.sum / float64(f.n)
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f %s", v, f.unit)
	case v >= 10:
		return fmt.Sprintf("%.1f %s", v, f.unit)
	default:
		return fmt.Sprintf("%.2f %s", v, f.unit)
	}
}

// row is one benchmark with its variants' figures.
type row struct {
	name    string
	figures map[string]*figure // by variant
}

// procSuffix is the -GOMAXPROCS suffix go test adds to names.
var procSuffix = regexp.MustCompile(`-\d+$`)

// parse reads benchmark result lines ("BenchmarkX/sub-2  1  123 ns/op
// 4.5 MiB/s …"), keeping one figure per line: MiB/s if reported, else
// MB/s (from SetBytes) converted to MiB/s, else ms/run, else ns/op as ms.
// Rows keep the order of their first line; repeated lines (-count) are
// averaged. Other lines are skipped.
func parse(r io.Reader) ([]*row, error) {
	var rows []*row
	byName := map[string]*row{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") || len(fields)%2 != 0 {
			continue
		}
		if _, err := strconv.Atoi(fields[1]); err != nil {
			continue // not a result line ("BenchmarkX ... --- FAIL", a log line)
		}
		metrics := map[string]float64{}
		ok := true
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				ok = false
				break
			}
			metrics[fields[i+1]] = v
		}
		if !ok {
			continue
		}
		value, unit, found := pick(metrics)
		if !found {
			continue
		}
		name := strings.TrimPrefix(procSuffix.ReplaceAllString(fields[0], ""), "Benchmark")
		variant := noAgent
		if base, last, cut := cutLast(name); cut {
			switch last {
			case paced, unpaced:
				name, variant = base, last
			case direct:
				name = base
			}
		}
		rw := byName[name]
		if rw == nil {
			rw = &row{name: name, figures: map[string]*figure{}}
			byName[name] = rw
			rows = append(rows, rw)
		}
		f := rw.figures[variant]
		if f == nil {
			f = &figure{unit: unit}
			rw.figures[variant] = f
		}
		if f.unit != unit {
			continue
		}
		f.sum += value
		f.n++
	}
	return rows, sc.Err()
}

// pick chooses a result line's figure.
func pick(m map[string]float64) (float64, string, bool) {
	if v, ok := m["MiB/s"]; ok {
		return v, "MiB/s", true
	}
	if v, ok := m["MB/s"]; ok {
		return v * 1e6 / (1 << 20), "MiB/s", true
	}
	if v, ok := m["ms/run"]; ok {
		return v, "ms", true
	}
	if v, ok := m["ns/op"]; ok {
		return v / 1e6, "ms", true
	}
	return 0, "", false
}

func cutLast(name string) (string, string, bool) {
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return name, "", false
	}
	return name[:i], name[i+1:], true
}

// format prints the table: names left-aligned, figures right-aligned.
func format(rows []*row) string {
	header := []string{"benchmark", "paced like the real agent", "unpaced", "no agent"}
	cells := [][]string{header}
	for _, r := range rows {
		cells = append(cells, []string{r.name, r.figures[paced].String(), r.figures[unpaced].String(), r.figures[noAgent].String()})
	}
	widths := make([]int, len(header))
	for _, c := range cells {
		for i, s := range c {
			widths[i] = max(widths[i], len(s))
		}
	}
	var sb strings.Builder
	for _, c := range cells {
		fmt.Fprintf(&sb, "%-*s", widths[0], c[0])
		for i := 1; i < len(c); i++ {
			fmt.Fprintf(&sb, "  %*s", widths[i], c[i])
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}
