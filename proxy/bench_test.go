package proxy_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/ssmssh/ssmssh/internal/e2etest"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// Environment variables that configure BenchmarkProxy.
const (
	// benchSizeEnv is the size of each scp transfer, paced and unpaced:
	// bytes, or a number with a KiB, MiB or GiB suffix (default 16MiB
	// paced and 256MiB unpaced, 1MiB and 8MiB when -benchtime is 1x, as
	// in CI; see e2etest.BenchSizes).
	benchSizeEnv = "SSMPROXY_BENCH_SIZE"
	// benchJSONEnv is where the results go (default bench-proxy.json at
	// the module root; in a temporary directory with -benchtime=1x).
	benchJSONEnv = "SSMPROXY_BENCH_JSON"
)

// benchRTT is the emulated round-trip time of the slow runs.
const benchRTT = 40 * time.Millisecond

// benchRow is one line of BenchmarkProxy's table and JSON.
type benchRow struct {
	Name string `json:"name"`
	Path string `json:"path"` // "ssmproxy" or "direct"
	// Pace is the agent's pace on the ssmproxy path: "paced" (like the
	// real agent) or "unpaced"; empty for direct.
	Pace  string  `json:"pace,omitempty"`
	RTTms int     `json:"rtt_ms"`
	Bytes int64   `json:"bytes,omitempty"`
	Runs  int     `json:"runs"`
	MiBps float64 `json:"mib_per_s,omitempty"`
	// OfDirect is MiBps as a share of the direct scp in the same
	// direction at the same RTT; OfZeroRTT, of the same path's at 0 ms.
	OfDirect  float64 `json:"of_direct,omitempty"`
	OfZeroRTT float64 `json:"of_zero_rtt,omitempty"`
	// Millis is the mean wall time of one run (ssh true).
	Millis float64 `json:"ms_per_run,omitempty"`
	// ProxyPeakRSSMiB is the largest VmHWM of the ssmproxy processes;
	// ProxyCPUPerGiB their CPU seconds per GiB moved.
	ProxyPeakRSSMiB float64 `json:"ssmproxy_peak_rss_mib,omitempty"`
	ProxyCPUPerGiB  float64 `json:"ssmproxy_cpu_s_per_gib,omitempty"`
	ProxyCPUms      float64 `json:"ssmproxy_cpu_ms_per_run,omitempty"`
}

// benchReport is the JSON BenchmarkProxy writes.
type benchReport struct {
	Date      time.Time  `json:"date"`
	GoVersion string     `json:"go_version"`
	CPUs      int        `json:"cpus"`
	Race      bool       `json:"race"`
	Size      int64      `json:"transfer_bytes"`
	PacedSize int64      `json:"paced_transfer_bytes"`
	Rows      []benchRow `json:"rows"`
}

// BenchmarkProxy measures ssmproxy under the real scp and ssh, against
// sshd behind the emulator (in this process, sharing the CPUs): scp
// throughput down and up through ssmproxy at 0 ms and 40 ms emulated
// round-trip time, each with the agent paced like the real one (first)
// and unpaced (see e2etest.BenchPaces), beside the same scp straight to sshd on loopback (at
// 40 ms through a relay that delays each direction by 20 ms), the
// time of "ssh target true", and ssmproxy's peak RSS and CPU time per GiB
// (from wait4 of each ssmproxy, which runs under a wrapper). It prints a
// table and writes it as JSON (see benchSizeEnv and benchJSONEnv).
func BenchmarkProxy(b *testing.B) {
	e2etest.RequireTools(b, "scp")
	pacedSize, unpacedSize, oneShot := e2etest.BenchSizes(b, benchSizeEnv)
	e := e2etest.Start(b, e2etest.Options{})
	e.RusageDir = b.TempDir()
	local, remote := filepath.Join(e.Dir, "local"), filepath.Join(e.Dir, "remote")
	file := func(dir, name string, size int64) string {
		return filepath.Join(dir, fmt.Sprintf("%s-%d.bin", name, size))
	}
	for i, size := range []int64{pacedSize, unpacedSize} {
		e2etest.RandomFile(b, file(local, "up", size), size, uint64(2*i+1))
		e2etest.RandomFile(b, file(remote, "down", size), size, uint64(2*i+2))
	}
	proxyHost, directHost := e.Instance+":", "127.0.0.1:"
	// Straight to sshd, or at 40 ms through a delaying relay: OpenSSH's
	// own windows (2 MiB per channel, 64 SFTP requests of 32 KiB) bound
	// what any path reaches at that round-trip time.
	directOptions := func(rtt time.Duration) []string { return e.DirectSSHOptionsRTT(rtt) }
	var rows []benchRow

	// scp runs one scp row; pace is empty for the direct path, which has
	// no agent to pace.
	scp := func(b *testing.B, path, pace string, size int64, rtt time.Duration, dir string) {
		e.Server.Faults().Set(func(f *ssmtest.FaultSet) { f.Latency = rtt })
		opts, host := e.SSHOptions(), proxyHost
		if path == "direct" {
			opts, host = directOptions(rtt), directHost
		}
		from, to := file(local, "up", size), host+filepath.Join(remote, "up.copy")
		check := filepath.Join(remote, "up.copy")
		if dir == "down" {
			from, to = host+file(remote, "down", size), filepath.Join(local, "down.copy")
			check = filepath.Join(local, "down.copy")
		}
		b.SetBytes(size)
		runs := 0
		for b.Loop() {
			os.Remove(check)
			e2etest.RunProc(b, e.Command("scp", append(opts, "-q", from, to)...)).MustSucceed(b)
			if fi, err := os.Stat(check); err != nil || fi.Size() != size {
				b.Fatalf("the copy: %v, %v; want %d bytes", fi, err, size)
			}
			runs++
		}
		row := benchRow{Name: "scp " + dir, Path: path, Pace: pace, RTTms: int(rtt.Milliseconds()), Bytes: size, Runs: runs,
			MiBps: float64(size) * float64(runs) / (1 << 20) / b.Elapsed().Seconds()}
		addUsage(b, e, &row, float64(size)*float64(runs))
		b.ReportMetric(row.MiBps, "MiB/s")
		rows = append(rows, row)
	}
	sshTrue := func(b *testing.B, path, pace string, rtt time.Duration) {
		e.Server.Faults().Set(func(f *ssmtest.FaultSet) { f.Latency = rtt })
		opts, host := e.SSHOptions(), e.Instance
		if path == "direct" {
			opts, host = directOptions(rtt), "127.0.0.1"
		}
		runs := 0
		for b.Loop() {
			e2etest.RunProc(b, e.Command("ssh", append(opts, host, "true")...)).MustSucceed(b)
			runs++
		}
		row := benchRow{Name: "ssh true", Path: path, Pace: pace, RTTms: int(rtt.Milliseconds()), Runs: runs,
			Millis: float64(b.Elapsed().Microseconds()) / 1000 / float64(runs)}
		addUsage(b, e, &row, 0)
		b.ReportMetric(row.Millis, "ms/run")
		rows = append(rows, row)
	}

	for _, dir := range []string{"down", "up"} {
		for _, rtt := range []time.Duration{0, benchRTT} {
			name := fmt.Sprintf("scp-%s/%%s/rtt=%dms", dir, rtt.Milliseconds())
			b.Run(fmt.Sprintf(name, "direct"), func(b *testing.B) { scp(b, "direct", "", unpacedSize, rtt, dir) })
			for _, p := range e2etest.BenchPaces {
				p.Run(b, e, fmt.Sprintf(name, "ssmproxy"), func(b *testing.B) {
					scp(b, "ssmproxy", p.Name, p.Size(pacedSize, unpacedSize), rtt, dir)
				})
			}
		}
	}
	for _, rtt := range []time.Duration{0, benchRTT} {
		name := fmt.Sprintf("ssh-true/%%s/rtt=%dms", rtt.Milliseconds())
		b.Run(fmt.Sprintf(name, "direct"), func(b *testing.B) { sshTrue(b, "direct", "", rtt) })
		for _, p := range e2etest.BenchPaces {
			p.Run(b, e, fmt.Sprintf(name, "ssmproxy"), func(b *testing.B) { sshTrue(b, "ssmproxy", p.Name, rtt) })
		}
	}
	e.Server.Faults().Set(func(f *ssmtest.FaultSet) { f.Latency = 0 })
	waitSessionsEnded(b, e.Server, -1)

	relate(rows)
	// The table goes to stdout: the log of a benchmark that only runs
	// sub-benchmarks is not printed.
	note := ""
	if oneShot {
		note = " (-benchtime=1x: a small smoke run)"
	}
	fmt.Printf("\nssmproxy through the emulator vs straight to sshd, %s per scp paced like the real agent, %s unpaced and direct%s:\n%s\n",
		formatSize(pacedSize), formatSize(unpacedSize), note, table(rows))
	out := os.Getenv(benchJSONEnv)
	if out == "" {
		out = filepath.Join(moduleRoot(b), "bench-proxy.json")
		if oneShot {
			out = filepath.Join(b.TempDir(), "bench-proxy.json")
		}
	}
	report := benchReport{Date: time.Now().UTC(), GoVersion: runtime.Version(), CPUs: runtime.NumCPU(),
		Race: e2etest.RaceEnabled, Size: unpacedSize, PacedSize: pacedSize, Rows: rows}
	js, err := json.MarshalIndent(report, "", "  ")
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(out, append(js, '\n'), 0o644); err != nil {
		b.Fatal(err)
	}
	fmt.Printf("wrote %s\n\n", out)
}

// addUsage folds the ssmproxy runs' resource usage into row.
func addUsage(b *testing.B, e *e2etest.Env, row *benchRow, moved float64) {
	b.Helper()
	usage, err := e2etest.ReadUsage(e.RusageDir)
	if err != nil {
		b.Fatal(err)
	}
	if len(usage) == 0 {
		return
	}
	var cpu time.Duration
	var peak int64
	for _, u := range usage {
		cpu += u.CPU()
		peak = max(peak, u.MaxRSSKiB)
	}
	row.ProxyPeakRSSMiB = float64(peak) / 1024
	row.ProxyCPUms = float64(cpu.Microseconds()) / 1000 / float64(len(usage))
	if moved > 0 {
		row.ProxyCPUPerGiB = cpu.Seconds() / (moved / (1 << 30))
	}
	b.ReportMetric(row.ProxyPeakRSSMiB, "ssmproxy-RSS-MiB")
}

// relate fills in the shares of the direct and zero-RTT figures.
func relate(rows []benchRow) {
	find := func(name, path, pace string, rtt int) *benchRow {
		for i := range rows {
			if rows[i].Name == name && rows[i].Path == path && rows[i].Pace == pace && rows[i].RTTms == rtt {
				return &rows[i]
			}
		}
		return nil
	}
	for i := range rows {
		r := &rows[i]
		if r.MiBps == 0 {
			continue
		}
		if d := find(r.Name, "direct", "", r.RTTms); r.Path != "direct" && d != nil && d.MiBps > 0 {
			r.OfDirect = r.MiBps / d.MiBps
		}
		if z := find(r.Name, r.Path, r.Pace, 0); r.RTTms > 0 && z != nil && z.MiBps > 0 {
			r.OfZeroRTT = r.MiBps / z.MiBps
		}
	}
}

// table formats rows for people.
func table(rows []benchRow) string {
	var sb strings.Builder
	w := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "what\tpath\tagent\tRTT\tMiB/s\tof direct\tof 0 ms\tms/run\tssmproxy RSS MiB\tCPU s/GiB\tCPU ms/run\t")
	pct := func(f float64) string {
		if f == 0 {
			return "-"
		}
		return fmt.Sprintf("%.0f%%", 100*f)
	}
	num := func(format string, f float64) string {
		if f == 0 {
			return "-"
		}
		return fmt.Sprintf(format, f)
	}
	for _, r := range rows {
		pace := r.Pace
		if pace == "" {
			pace = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d ms\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Name, r.Path, pace, r.RTTms,
			num("%.1f", r.MiBps), pct(r.OfDirect), pct(r.OfZeroRTT), num("%.0f", r.Millis),
			num("%.1f", r.ProxyPeakRSSMiB), num("%.2f", r.ProxyCPUPerGiB), num("%.0f", r.ProxyCPUms))
	}
	w.Flush()
	return sb.String()
}

func formatSize(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// moduleRoot is the directory of go.mod above the working directory.
func moduleRoot(b *testing.B) string {
	dir, err := os.Getwd()
	if err != nil {
		b.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}
