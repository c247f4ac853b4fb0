package cli_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ssmssh/ssmssh/internal/e2etest"
	"github.com/ssmssh/ssmssh/sshclient/cli"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// loginSettings are e2etest's ssh options that ssmssh needs to log in to
// sshd (user, key, known_hosts), as -o arguments.
func loginSettings(e *e2etest.Env) []string {
	var args []string
	opts := e.LoginOptions()
	for i := 0; i+1 < len(opts); i += 2 {
		switch k, _, _ := strings.Cut(opts[i+1], "="); k {
		case "User", "IdentityFile", "IdentitiesOnly", "UserKnownHostsFile", "StrictHostKeyChecking", "BatchMode", "ConnectTimeout":
			args = append(args, "-o", opts[i+1])
		}
	}
	return append(args, "-o", "IdentityAgent=none")
}

// BenchmarkSSMSSHTrue is the wall time of "ssmssh target true", the
// built binary against sshd behind the emulator, beside "ssh target true"
// through ssmproxy and, when AWS's session-manager-plugin and the AWS CLI
// v2 (/usr/bin/aws) are there, through the official pair, at 0 ms and
// 40 ms emulated round-trip time: process start, AWS configuration,
// StartSession, the data channel and its handshake, SSH key exchange and
// login, and the command; with the agent paced like the real one (first)
// and unpaced. The table has each row's fastest and slowest run beside
// the mean, so that a bimodal start-up (a handshake resent after 200 ms)
// shows.
func BenchmarkSSMSSHTrue(b *testing.B) {
	var _ cli.SSH // the binary is built from this package
	e2etest.RequireTools(b, "ssh")
	// The official plugin signs its websocket upgrade only from 1.2.764.0
	// on; an older one on PATH is let in unsigned.
	e := e2etest.Start(b, e2etest.Options{Emulator: ssmtest.Options{AllowUnsignedGateway: e2etest.OfficialPair()}})
	ssmssh := e2etest.CommandBinary(b, "ssmssh")
	var lines []string
	for _, rtt := range []time.Duration{0, 40 * time.Millisecond} {
		paths := []string{"ssmssh", "ssh+ssmproxy"}
		if e2etest.OfficialPair() {
			paths = append(paths, "ssh+official")
		}
		for _, path := range paths {
			for _, p := range e2etest.BenchPaces {
				p.Run(b, e, fmt.Sprintf("%s/rtt=%dms", path, rtt.Milliseconds()), func(b *testing.B) {
					e.Server.Faults().Set(func(f *ssmtest.FaultSet) { f.Latency = rtt })
					defer e.Server.Faults().Set(func(f *ssmtest.FaultSet) { f.Latency = 0 })
					runs := 0
					fastest, slowest := time.Duration(1<<62), time.Duration(0)
					for b.Loop() {
						cmd := e.Command(ssmssh, append(append([]string{"-F", "none"}, loginSettings(e)...), e.Instance, "true")...)
						switch path {
						case "ssh+ssmproxy":
							cmd = e.Command("ssh", append(e.SSHOptions(), e.Instance, "true")...)
						case "ssh+official":
							cmd = e.Command("ssh", append(e.OfficialSSHOptions(), e.Instance, "true")...)
						}
						t0 := time.Now()
						e2etest.RunProc(b, cmd).MustSucceed(b)
						d := time.Since(t0)
						fastest, slowest = min(fastest, d), max(slowest, d)
						runs++
					}
					ms := float64(b.Elapsed().Microseconds()) / 1000 / float64(runs)
					if path == "ssh+official" {
						e.AwaitSessionsEnded(b, 5*time.Second)
					}
					b.ReportMetric(ms, "ms/run")
					lines = append(lines, fmt.Sprintf("  %-13s %-7s %3d ms RTT  %6.0f ms  (%d runs, %d to %d ms)", path, p.Name, rtt.Milliseconds(), ms,
						runs, fastest.Milliseconds(), slowest.Milliseconds()))
				})
			}
		}
	}
	fmt.Printf("\n\"<command> target true\" through the emulator to sshd:\n%s\n\n", strings.Join(lines, "\n"))
}
