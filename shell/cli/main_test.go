package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/creack/pty"

	"github.com/ssmssh/ssmssh/internal/e2etest"
	"github.com/ssmssh/ssmssh/ssmclient"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// env is an emulator whose built-in agents serve the sessions, with the
// process environment pointing the AWS configuration at it.
type env struct {
	s *ssmtest.Server
}

func newEnv(t *testing.T, opts ssmtest.Options) *env {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	s, err := ssmtest.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(home, "aws-config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(home, "aws-credentials"))
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	return &env{s: s}
}

// setAgentVersion restarts id's built-in agent as version v and waits
// until DescribeInstanceInformation reports it.
func (e *env) setAgentVersion(t *testing.T, id, v string) {
	t.Helper()
	if err := e.s.Fleet().Update(id, func(in *ssmtest.Instance) { in.AgentVersion = v }); err != nil {
		t.Fatal(err)
	}
	e.s.StopAgent(id)
	if err := e.s.StartAgent(id); err != nil {
		t.Fatal(err)
	}
	cfg, err := e.s.AWSConfig(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	client := ssmclient.NewClientFromConfig(cfg)
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, err := client.SSM.DescribeInstanceInformation(t.Context(), &ssm.DescribeInstanceInformationInput{})
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range info.InstanceInformationList {
			if aws.ToString(in.InstanceId) == id && aws.ToString(in.AgentVersion) == v && in.PingStatus == types.PingStatusOnline {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s's agent never reported version %s online", id, v)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// result is what one ssmsession run gave.
type result struct {
	code           int
	stdout, stderr string
}

// run runs ssmsession with args and stdin, bounded in time.
func run(t *testing.T, stdin *os.File, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var out, errb e2etest.Buffer
	c := &CLI{Stdin: stdin, Stdout: &out, Stderr: &errb}
	code := c.Main(ctx, args)
	return result{code, out.String(), errb.String()}
}

// terminal is the user's side of a pseudo-terminal running ssmsession.
type terminal struct {
	t          *testing.T
	ptmx, tty  *os.File
	out, errb  e2etest.Buffer
	done       chan int
	cancelMain context.CancelFunc
}

// startTerminal runs ssmsession with args on a new pseudo-terminal of
// rows x cols: the pty is its stdin, out and errb its stdout and stderr.
func startTerminal(t *testing.T, rows, cols uint16, args ...string) *terminal {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: rows, Cols: cols}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	term := &terminal{t: t, ptmx: ptmx, tty: tty, done: make(chan int, 1), cancelMain: cancel}
	go func() {
		c := &CLI{Stdin: tty, Stdout: &term.out, Stderr: &term.errb}
		term.done <- c.Main(ctx, args)
	}()
	go func() { // whatever the terminal echoes locally
		buf := make([]byte, 1024)
		for {
			if _, err := ptmx.Read(buf); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		ptmx.Close()
		tty.Close()
	})
	return term
}

func (term *terminal) typeText(s string) {
	term.t.Helper()
	if _, err := term.ptmx.WriteString(s); err != nil {
		term.t.Fatal(err)
	}
}

// waitOutput waits until stdout has shown want (after from bytes).
func (term *terminal) waitOutput(from int, want string) int {
	term.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		s := term.out.String()
		if i := strings.Index(s[min(from, len(s)):], want); i >= 0 {
			return from + i + len(want)
		}
		select {
		case code := <-term.done:
			term.done <- code
			term.t.Fatalf("ssmsession exited %d before showing %q; stdout %q; stderr:\n%s", code, want, s, term.errb.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	term.t.Fatalf("no %q in stdout %q; stderr:\n%s", want, term.out.String(), term.errb.String())
	return 0
}

// wait waits for ssmsession's exit status.
func (term *terminal) wait() int {
	term.t.Helper()
	select {
	case code := <-term.done:
		return code
	case <-time.After(30 * time.Second):
		term.t.Fatalf("ssmsession did not exit; stdout %q; stderr:\n%s", term.out.String(), term.errb.String())
	}
	return 0
}

func TestMain(m *testing.M) { e2etest.Main(m) }
