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
// through ssmproxy, at 0 ms and 40 ms emulated round-trip time: process
// start, AWS configuration, StartSession, the data channel and its
// handshake, SSH key exchange and login, and the command; with the agent
// paced like the real one (first) and unpaced.
func BenchmarkSSMSSHTrue(b *testing.B) {
	var _ cli.SSH // the binary is built from this package
	e2etest.RequireTools(b, "ssh")
	e := e2etest.Start(b, e2etest.Options{})
	ssmssh := e2etest.CommandBinary(b, "ssmssh")
	var lines []string
	for _, rtt := range []time.Duration{0, 40 * time.Millisecond} {
		for _, path := range []string{"ssmssh", "ssh+ssmproxy"} {
			for _, p := range e2etest.BenchPaces {
				p.Run(b, e, fmt.Sprintf("%s/rtt=%dms", path, rtt.Milliseconds()), func(b *testing.B) {
					e.Server.Faults().Set(func(f *ssmtest.FaultSet) { f.Latency = rtt })
					defer e.Server.Faults().Set(func(f *ssmtest.FaultSet) { f.Latency = 0 })
					runs := 0
					for b.Loop() {
						cmd := e.Command(ssmssh, append(append([]string{"-F", "none"}, loginSettings(e)...), e.Instance, "true")...)
						if path != "ssmssh" {
							cmd = e.Command("ssh", append(e.SSHOptions(), e.Instance, "true")...)
						}
						e2etest.RunProc(b, cmd).MustSucceed(b)
						runs++
					}
					ms := float64(b.Elapsed().Microseconds()) / 1000 / float64(runs)
					b.ReportMetric(ms, "ms/run")
					lines = append(lines, fmt.Sprintf("  %-13s %-7s %3d ms RTT  %6.0f ms", path, p.Name, rtt.Milliseconds(), ms))
				})
			}
		}
	}
	fmt.Printf("\n\"<command> target true\" through the emulator to sshd:\n%s\n\n", strings.Join(lines, "\n"))
}
