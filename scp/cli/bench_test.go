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

// benchSizeEnv is the size of each BenchmarkSSMSCP transfer, paced and
// unpaced (see e2etest.BenchSizes: 16 MiB paced, 256 MiB unpaced).
const benchSizeEnv = "SSMSCP_BENCH_SIZE"

// benchRTT is the emulated round-trip time of the slow runs.
const benchRTT = 40 * time.Millisecond

// BenchmarkSSMSCP measures the built ssmscp's throughput down and up,
// over SFTP and with -O, through the emulator to sshd (in this process,
// sharing the CPUs), at 0 ms and 40 ms of emulated round-trip time, each
// with the agent paced like the real one (first) and unpaced,
// beside OpenSSH's scp through ssmproxy over the same path and straight to
// sshd. It reports MiB/s and prints a table.
func BenchmarkSSMSCP(b *testing.B) {
	e2etest.RequireTools(b, "scp")
	pacedSize, unpacedSize, oneShot := e2etest.BenchSizes(b, benchSizeEnv)
	e := startBench(b, e2etest.Options{}, pacedSize, unpacedSize)

	type row struct {
		name  string
		pace  string
		rtt   time.Duration
		mibps float64
	}
	var rows []row
	// copy runs one row; pace is empty for scp direct, which has no agent
	// to pace.
	copyRow := func(b *testing.B, dir, tool, pace string, size int64, rtt time.Duration) {
		e.Server.Faults().Set(func(f *ssmtest.FaultSet) { f.Latency = rtt })
		defer e.Server.Faults().Set(func(f *ssmtest.FaultSet) { f.Latency = 0 })
		from, to := e.file(e.localDir, "up", size), filepath.Join(e.remoteDir, "up.copy")
		check := to
		if dir == "down" {
			from, to = e.file(e.remoteDir, "down", size), filepath.Join(e.localDir, "down.copy")
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
			cmd := e.Command(e.ssmscp, append(e.login, from, to)...)
			switch tool {
			case "ssmscp -O":
				cmd = e.Command(e.ssmscp, append(append([]string{"-O"}, e.login...), from, to)...)
			case "scp+ssmproxy":
				cmd = e.Command("scp", append(e.SSHOptions(), "-q", from, to)...)
			case "scp direct":
				// The ceiling: no Session Manager at all (at
				// 40 ms through a delaying relay).
				cmd = e.Command("scp", append(e.DirectSSHOptionsRTT(rtt), "-q", from, to)...)
			}
			p := e2etest.StartProc(b, cmd)
			p.Wait(b, e2etest.CopyTimeout(size))
			p.MustSucceed(b)
			if fi, err := os.Stat(check); err != nil || fi.Size() != size {
				b.Fatalf("the copy: %v, %v; want %d bytes", fi, err, size)
			}
			runs++
		}
		mibps := float64(size) * float64(runs) / (1 << 20) / b.Elapsed().Seconds()
		b.ReportMetric(mibps, "MiB/s")
		rows = append(rows, row{fmt.Sprintf("%s %s", tool, dir), pace, rtt, mibps})
	}
	for _, dir := range []string{"down", "up"} {
		for _, rtt := range []time.Duration{0, benchRTT} {
			for _, tool := range []string{"ssmscp", "ssmscp -O", "scp+ssmproxy", "scp direct"} {
				name := fmt.Sprintf("%s/%s/rtt=%dms", dir, strings.ReplaceAll(tool, " ", ""), rtt.Milliseconds())
				if tool == "scp direct" {
					b.Run(name, func(b *testing.B) { copyRow(b, dir, tool, "", unpacedSize, rtt) })
					continue
				}
				for _, p := range e2etest.BenchPaces {
					p.Run(b, e.Env, name, func(b *testing.B) { copyRow(b, dir, tool, p.Name, p.Size(pacedSize, unpacedSize), rtt) })
				}
			}
		}
	}
	note := ""
	if oneShot {
		note = " (-benchtime=1x: a small smoke run)"
	}
	var sb strings.Builder
	w := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "what\tagent\tRTT\tMiB/s\t")
	for _, r := range rows {
		pace := r.pace
		if pace == "" {
			pace = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%d ms\t%.1f\t\n", r.name, pace, r.rtt.Milliseconds(), r.mibps)
	}
	w.Flush()
	fmt.Printf("\nssmscp through the emulator to sshd, %s per copy paced like the real agent, %s unpaced and direct%s:\n%s\n",
		formatSize(pacedSize), formatSize(unpacedSize), note, sb.String())
}

func formatSize(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// benchEnv is a copy benchmark's emulator and sshd, with the built ssmscp
// and, for each size, a random file to send (under localDir) and one to
// receive (under remoteDir).
type benchEnv struct {
	*e2etest.Env
	ssmscp              string
	localDir, remoteDir string
	login               []string // the options that log ssmscp in, and -q
}

func startBench(b *testing.B, opts e2etest.Options, sizes ...int64) *benchEnv {
	b.Helper()
	e := e2etest.Start(b, opts)
	be := &benchEnv{Env: e, ssmscp: e2etest.CommandBinary(b, "ssmscp"),
		localDir: filepath.Join(e.Dir, "local"), remoteDir: filepath.Join(e.Dir, "remote"),
		login: (&env{Env: e}).args("-q")}
	for i, size := range sizes {
		e2etest.RandomFile(b, be.file(be.localDir, "up", size), size, uint64(2*i+1))
		e2etest.RandomFile(b, be.file(be.remoteDir, "down", size), size, uint64(2*i+2))
	}
	return be
}

// file is the path of the benchmark's file name of size bytes in dir.
func (e *benchEnv) file(dir, name string, size int64) string {
	return filepath.Join(dir, fmt.Sprintf("%s-%d.bin", name, size))
}
