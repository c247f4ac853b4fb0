package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ssmssh/ssmssh/internal/e2etest"
)

// scpSize is what the scp test moves each way.
const scpSize = 16 << 20

// TestAWSCLISSHProxyCommand runs OpenSSH's scp with ProxyCommand 'aws ssm
// start-session --document-name AWS-StartSSHSession …' and our plugin
// first on PATH, copying 16 MiB each way: equal SHA-256, aws exits 0
// (AWS's plugin writes "Exiting session…" into the closed pipe and dies of
// SIGPIPE), and no session stays Active.
func TestAWSCLISSHProxyCommand(t *testing.T) {
	e := startCLI(t, e2etest.Options{})
	proxy := e.awsCommandLine("ssm", "start-session", "--target", "%h", "--document-name", "AWS-StartSSHSession", "--parameters", "portNumber=%p")
	opts := append([]string{"-F", "/dev/null", "-o", "ProxyCommand=" + proxy}, e.LoginOptions()...)
	local, remote := filepath.Join(e.Dir, "local"), filepath.Join(e.Dir, "remote")
	for _, d := range []string{local, remote} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	upSrc, upDst := filepath.Join(local, "up"), filepath.Join(remote, "up")
	downSrc, downDst := filepath.Join(remote, "down"), filepath.Join(local, "down")
	upSum := e2etest.RandomFile(t, upSrc, scpSize, 1)
	downSum := e2etest.RandomFile(t, downSrc, scpSize, 2)
	for _, c := range []struct{ name, from, to, dst, sum string }{
		{"up", upSrc, e.Instance + ":" + upDst, upDst, upSum},
		{"down", e.Instance + ":" + downSrc, downDst, downDst, downSum},
	} {
		cmd := e.Command("scp", append(append([]string{}, opts...), "-q", c.from, c.to)...)
		cmd.Env = e.environ()
		p := e2etest.RunProc(t, cmd)
		if code := p.Cmd.ProcessState.ExitCode(); code != 0 {
			t.Fatalf("scp %s exited %d: %v", c.name, code, p)
		}
		if got := e2etest.FileSHA256(t, c.dst); got != c.sum {
			t.Errorf("scp %s: the copy has SHA-256 %s, the source %s", c.name, got, c.sum)
		}
		if s := p.Stderr(); s != "" {
			t.Errorf("scp %s printed on stderr: %q", c.name, s)
		}
	}
	// ssh with a command, several times: aws must exit 0 every time.
	for i := range 3 {
		cmd := e.Command("ssh", append(append([]string{}, opts...), e.Instance, fmt.Sprintf("echo run-%d", i))...)
		cmd.Env = e.environ()
		p := e2etest.RunProc(t, cmd)
		if code := p.Cmd.ProcessState.ExitCode(); code != 0 || p.Stdout() != fmt.Sprintf("run-%d\n", i) {
			t.Errorf("ssh run %d: exit %d: %v", i, code, p)
		}
	}
}
