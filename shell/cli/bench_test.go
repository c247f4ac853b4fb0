package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/ssmssh/ssmssh/internal/e2etest"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// BenchmarkShellPrompt is the wall time from starting the ssmsession
// binary on a pseudo-terminal to the remote shell's first prompt on it:
// process start, AWS configuration, the agent version check
// (DescribeInstanceInformation), StartSession, the data channel (and the
// KMS handshake), the shell's start and its prompt's way back; plain and KMS-encrypted, with the agent paced like the real
// one (first) and unpaced. The real agent also sleeps about a second
// before a shell's first output, which the emulator's does not, so add
// that for what users see.
func BenchmarkShellPrompt(b *testing.B) {
	bin := e2etest.CommandBinary(b, "ssmsession")
	var lines []string
	for _, kms := range []bool{false, true} {
		opts := ssmtest.Options{ShellProfileLinux: "PS1='ssm-prompt> '"}
		name := "plain"
		if kms {
			opts.KMSKeyID = ssmtest.DefaultKMSAlias
			name = "kms"
		}
		s, err := ssmtest.NewServer(opts)
		if err != nil {
			b.Fatal(err)
		}
		env := append(os.Environ(), "HOME="+b.TempDir(), "AWS_PROFILE=", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
		env = append(env, s.Env()...)
		for _, p := range e2etest.BenchPaces {
			b.Run(name+"/"+p.Name, func(b *testing.B) {
				s.SetAgentPace(p.Pace)
				defer s.SetAgentPace(ssmtest.Pace{})
				runs := 0
				for b.Loop() {
					promptOnce(b, bin, env)
					runs++
				}
				ms := float64(b.Elapsed().Microseconds()) / 1000 / float64(runs)
				b.ReportMetric(ms, "ms/prompt")
				lines = append(lines, fmt.Sprintf("  %-6s %-8s %6.0f ms", name, p.Name, ms))
			})
		}
		s.Close()
	}
	fmt.Printf("\nssmsession: start to the first shell prompt, through the emulator:\n%s\n\n", strings.Join(lines, "\n"))
}

// promptOnce starts ssmsession on a new pseudo-terminal, waits for the
// prompt, and ends the shell with exit.
func promptOnce(b *testing.B, bin string, env []string) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		b.Skipf("no pty: %v", err)
	}
	defer ptmx.Close()
	ctx, cancel := context.WithTimeout(b.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-q", ssmtest.InstanceAmazonLinux)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	if err := cmd.Start(); err != nil {
		tty.Close()
		b.Fatal(err)
	}
	tty.Close()
	var seen bytes.Buffer
	buf := make([]byte, 4096)
	for !bytes.Contains(seen.Bytes(), []byte("ssm-prompt> ")) {
		_ = ptmx.SetReadDeadline(time.Now().Add(30 * time.Second))
		n, err := ptmx.Read(buf)
		seen.Write(buf[:n])
		if err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			b.Fatalf("no prompt: %v; the terminal showed %q", err, seen.String())
		}
	}
	b.StopTimer()
	if _, err := ptmx.WriteString("exit\r"); err != nil {
		b.Fatal(err)
	}
	go func() { // drain until ssmsession exits and the pty closes
		for {
			if _, err := ptmx.Read(buf); err != nil {
				return
			}
		}
	}()
	if err := cmd.Wait(); err != nil {
		b.Fatalf("ssmsession: %v; the terminal showed %q", err, seen.String())
	}
	b.StartTimer()
}
