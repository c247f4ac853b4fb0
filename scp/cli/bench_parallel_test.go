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

// parallelBenchSizeEnv is the size of each BenchmarkParallel copy, paced
// and unpaced (see e2etest.BenchSizes: 16 MiB paced, 256 MiB unpaced).
const parallelBenchSizeEnv = "SSMSCP_PARALLEL_BENCH_SIZE"

// BenchmarkParallel measures the built ssmscp down and up with --sessions
// 1, 2, 4 and 8 through the emulator paced like the real agent (about
// 1 MB/s per session down; uploads are not paced, as by the real agent),
// up again with the service's reported limit of 1000 client messages a
// second as well (ssmtest.ServicePublicationRate), then unpaced, beside
// OpenSSH's scp through ssmproxy
// and, when session-manager-plugin and the AWS CLI are on PATH, through
// the official pair. It prints a table with each row's speed-up over one
// session.
func BenchmarkParallel(b *testing.B) {
	e2etest.RequireTools(b, "scp")
	pacedSize, unpacedSize, oneShot := e2etest.BenchSizes(b, parallelBenchSizeEnv)
	official := e2etest.OfficialPair()
	// The official plugin signs its websocket upgrade only from 1.2.764.0
	// on; an older one on PATH is let in unsigned.
	e := startBench(b, e2etest.Options{Emulator: ssmtest.Options{AllowUnsignedGateway: official}}, pacedSize, unpacedSize)
	tools := []string{"--sessions 1", "--sessions 2", "--sessions 4", "--sessions 8", "default", "scp+ssmproxy"}
	if official {
		tools = append(tools, "scp+official")
	}

	type row struct {
		name, agent string
		mibps       float64
	}
	var rows []row
	// Uploads run a third time paced and with the service's reported
	// limit of 1000 messages a second per client (not documented by AWS):
	// what sessions buy up if the service does throttle so.
	throttled := e2etest.BenchPace{Name: "throttled", Pace: ssmtest.RealAgentPace}
	modes := []struct {
		pace     e2etest.BenchPace
		dirs     []string
		throttle bool
	}{
		{e2etest.BenchPaces[0], []string{"down", "up"}, false},
		{throttled, []string{"up"}, true},
		{e2etest.BenchPaces[1], []string{"down", "up"}, false},
	}
	for _, mode := range modes {
		for _, dir := range mode.dirs {
			for _, tool := range tools {
				pace := mode.pace
				name := fmt.Sprintf("%s/%s", dir, strings.ReplaceAll(tool, " ", ""))
				size := pace.Size(pacedSize, unpacedSize)
				pace.Run(b, e.Env, name, func(b *testing.B) {
					if mode.throttle {
						e.Server.Faults().Set(func(f *ssmtest.FaultSet) { f.PublicationRateLimit = ssmtest.ServicePublicationRate })
						defer e.Server.Faults().Set(func(f *ssmtest.FaultSet) { f.PublicationRateLimit = 0 })
					}
					from, to := e.file(e.localDir, "up", size), e.Instance+":"+filepath.Join(e.remoteDir, "up.copy")
					check := filepath.Join(e.remoteDir, "up.copy")
					if dir == "down" {
						from, to = e.Instance+":"+e.file(e.remoteDir, "down", size), filepath.Join(e.localDir, "down.copy")
						check = to
					}
					b.SetBytes(size)
					runs := 0
					for b.Loop() {
						os.Remove(check)
						var args []string
						if n, ok := strings.CutPrefix(tool, "--sessions "); ok {
							args = append(args, "--sessions", n)
						}
						cmd := e.Command(e.ssmscp, append(append(args, e.login...), from, to)...)
						switch tool {
						case "scp+ssmproxy":
							cmd = e.Command("scp", append(e.SSHOptions(), "-q", from, to)...)
						case "scp+official":
							cmd = e.Command("scp", append(e.OfficialSSHOptions(), "-q", from, to)...)
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
					if tool == "scp+official" {
						e.AwaitSessionsEnded(b, 5*time.Second)
					}
					b.ReportMetric(mibps, "MiB/s")
					label := tool
					if !strings.HasPrefix(tool, "scp") {
						label = "ssmscp " + tool
					}
					agent := pace.Name
					if mode.throttle {
						agent = "paced, 1000 msg/s"
					}
					rows = append(rows, row{label + " " + dir, agent, mibps})
				})
			}
		}
	}
	note := ""
	if oneShot && os.Getenv(parallelBenchSizeEnv) == "" {
		note = " (-benchtime=1x: a small smoke run, too small for more than one session)"
	}
	base := map[string]float64{}
	for _, r := range rows {
		if strings.HasPrefix(r.name, "ssmscp --sessions 1 ") {
			base[r.agent+" "+strings.TrimPrefix(r.name, "ssmscp --sessions 1 ")] = r.mibps
		}
	}
	var sb strings.Builder
	w := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "what\tagent\tMiB/s\t× 1 session\t")
	for _, r := range rows {
		dir := r.name[strings.LastIndexByte(r.name, ' ')+1:]
		x := ""
		if v := base[r.agent+" "+dir]; v > 0 {
			x = fmt.Sprintf("%.1f", r.mibps/v)
		}
		fmt.Fprintf(w, "%s\t%s\t%.2f\t%s\t\n", r.name, r.agent, r.mibps, x)
	}
	w.Flush()
	fmt.Printf("\nssmscp over parallel sessions through the emulator to sshd, %s per copy paced like the real agent, %s unpaced%s:\n%s\n",
		formatSize(pacedSize), formatSize(unpacedSize), note, sb.String())
}
