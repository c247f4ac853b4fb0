package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/ssmssh/ssmssh/internal/e2etest"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// benchSizeEnv is the size of each BenchmarkSSMSCP transfer (see
// e2etest.BenchSize).
const benchSizeEnv = "SSMSCP_BENCH_SIZE"

// benchRTT is the emulated round-trip time of the slow runs.
const benchRTT = 40 * time.Millisecond

// BenchmarkSSMSCP measures the built ssmscp's throughput down and up,
// over SFTP and with -O, through the emulator to sshd (in this process,
// sharing the CPUs), at 0 ms and 40 ms of emulated round-trip time,
// beside OpenSSH's scp through ssmproxy over the same path and straight to
// sshd. It reports MiB/s and prints a table.
func BenchmarkSSMSCP(b *testing.B) {
	e2etest.RequireTools(b, "scp")
	size, oneShot := e2etest.BenchSize(b, benchSizeEnv)
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
			for _, tool := range []string{"ssmscp", "ssmscp -O", "scp+ssmproxy", "scp direct"} {
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
					host := e.Instance + ":"
					if tool == "scp direct" {
						host = "127.0.0.1:"
					}
					if dir == "down" {
						from = host + from
					} else {
						to = host + to
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
						case "scp direct":
							// The ceiling: no Session Manager at all (at
							// 40 ms through a delaying relay).
							cmd = e.Command("scp", append(e.DirectSSHOptionsRTT(rtt), "-q", from, to)...)
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
