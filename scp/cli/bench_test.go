package cli

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/ssmssh/ssmssh/internal/e2etest"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// benchSizeEnv is the size of each BenchmarkSSMSCP transfer: bytes, or a
// number with a KiB, MiB or GiB suffix (default 256MiB, and 8MiB with
// -benchtime=1x, as in CI).
const benchSizeEnv = "SSMSCP_BENCH_SIZE"

// benchRTT is the emulated round-trip time of the slow runs.
const benchRTT = 40 * time.Millisecond

// BenchmarkSSMSCP measures the built ssmscp's throughput down and up,
// over SFTP and with -O, through the emulator to sshd (in this process,
// sharing the CPUs), at 0 ms and 40 ms of emulated round-trip time,
// beside OpenSSH's scp through ssmproxy over the same path. It reports
// MiB/s and prints a table.
func BenchmarkSSMSCP(b *testing.B) {
	e2etest.RequireTools(b, "scp")
	size, oneShot := benchSize(b)
	e := e2etest.Start(b, e2etest.Options{})
	ssmscp := e2etest.CommandBinary(b, "ssmscp")
	local := filepath.Join(e.Dir, "local")
	remote := filepath.Join(e.Dir, "remote")
	e2etest.RandomFile(b, filepath.Join(local, "up.bin"), size, 1)
	e2etest.RandomFile(b, filepath.Join(remote, "down.bin"), size, 2)
	login := (&env{Env: e}).args("-q")

	type row struct {
		name  string
		rtt   time.Duration
		mibps float64
	}
	var rows []row
	for _, dir := range []string{"down", "up"} {
		for _, rtt := range []time.Duration{0, benchRTT} {
			for _, tool := range []string{"ssmscp", "ssmscp -O", "scp+ssmproxy"} {
				name := fmt.Sprintf("%s/%s/rtt=%dms", dir, strings.ReplaceAll(tool, " ", ""), rtt.Milliseconds())
				b.Run(name, func(b *testing.B) {
					e.Server.Faults().Set(func(f *ssmtest.FaultSet) { f.Latency = rtt })
					defer e.Server.Faults().Set(func(f *ssmtest.FaultSet) { f.Latency = 0 })
					from, to := filepath.Join(local, "up.bin"), filepath.Join(remote, "up.copy")
					check := to
					if dir == "down" {
						from, to = filepath.Join(remote, "down.bin"), filepath.Join(local, "down.copy")
						check = to
					}
					if dir == "down" {
						from = e.Instance + ":" + from
					} else {
						to = e.Instance + ":" + to
					}
					b.SetBytes(size)
					runs := 0
					for b.Loop() {
						os.Remove(check)
						cmd := e.Command(ssmscp, append(login, from, to)...)
						switch tool {
						case "ssmscp -O":
							cmd = e.Command(ssmscp, append(append([]string{"-O"}, login...), from, to)...)
						case "scp+ssmproxy":
							cmd = e.Command("scp", append(e.SSHOptions(), "-q", from, to)...)
						}
						e2etest.RunProc(b, cmd).MustSucceed(b)
						if fi, err := os.Stat(check); err != nil || fi.Size() != size {
							b.Fatalf("the copy: %v, %v; want %d bytes", fi, err, size)
						}
						runs++
					}
					mibps := float64(size) * float64(runs) / (1 << 20) / b.Elapsed().Seconds()
					b.ReportMetric(mibps, "MiB/s")
					rows = append(rows, row{fmt.Sprintf("%s %s", tool, dir), rtt, mibps})
				})
			}
		}
	}
	note := ""
	if oneShot {
		note = " (-benchtime=1x: a small smoke run)"
	}
	var sb strings.Builder
	w := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "what\tRTT\tMiB/s\t")
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%d ms\t%.1f\t\n", r.name, r.rtt.Milliseconds(), r.mibps)
	}
	w.Flush()
	fmt.Printf("\nssmscp through the emulator to sshd, %d MiB per copy%s:\n%s\n", size>>20, note, sb.String())
}

// benchSize returns the transfer size and whether the run is a one-shot
// smoke run (-benchtime=1x).
func benchSize(b *testing.B) (int64, bool) {
	oneShot := false
	if f := flag.Lookup("test.benchtime"); f != nil && f.Value.String() == "1x" {
		oneShot = true
	}
	s := os.Getenv(benchSizeEnv)
	if s == "" {
		if oneShot {
			return 8 << 20, true
		}
		return 256 << 20, false
	}
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		b.Fatalf("%s: %q is not a positive number of bytes, KiB, MiB or GiB", benchSizeEnv, s)
	}
	return n * mult, oneShot
}
