package ssmlocal

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ssmssh/ssmssh/ssmclient"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// demoRun is one walk-through: a fresh emulator, a demo key, and the steps.
type demoRun struct {
	ctx     context.Context
	out     io.Writer
	s       *ssmtest.Server
	dir     string
	key     string // private key file
	signer  ssh.Signer
	known   string // known_hosts file
	bin     string // directory of the ssmssh binaries
	env     []string
	failed  []string
	skipped []string
	// payload is the size of each round trip's file: 2 MiB at the real
	// agent's pace (a few seconds each way), 8 MiB unpaced.
	payload int
}

func demo(ctx context.Context, args []string, stdio IO) error {
	fs := flag.NewFlagSet("ssmlocal demo", flag.ContinueOnError)
	fs.SetOutput(stdio.Stderr)
	bin := fs.String("bin", "", "`directory` holding ssmproxy, ssmssh, ssmscp, ssmsftp and ssmsession (default: next to ssmlocal)")
	verbose := fs.Bool("v", false, "log the emulator's diagnostics to stderr")
	unpaced := fs.Bool("unpaced", false, "let the built-in agents send as fast as they can instead of at the real agent's pace")
	if err := fs.Parse(args); err != nil {
		return err
	}
	d := &demoRun{ctx: ctx, out: stdio.Stdout, bin: *bin, payload: 2 << 20}
	if *unpaced {
		d.payload = 8 << 20
	}
	if d.bin == "" {
		if exe, err := os.Executable(); err == nil {
			d.bin = filepath.Dir(exe)
		}
	}
	dir, err := os.MkdirTemp("", "ssmlocal-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	d.dir = dir
	if err := d.makeKey(); err != nil {
		return err
	}
	opts := ssmtest.Options{AuthorizedKeysFile: filepath.Join(dir, "authorized_keys"), AgentPace: agentPace(*unpaced)}
	if *verbose {
		opts.Logf = func(format string, args ...any) { fmt.Fprintf(stdio.Stderr, format+"\n", args...) }
	}
	d.s, err = ssmtest.NewServer(opts)
	if err != nil {
		return err
	}
	// A HOME of the demo's own: the commands' caches (the default-user
	// cache) and known_hosts stay out of the user's.
	d.env = append(append(withoutAWS(os.Environ()), "HOME="+dir), d.s.Env()...)
	if err := d.writeKnownHosts(); err != nil {
		d.s.Close()
		return err
	}

	fmt.Fprintf(d.out, "ssmlocal demo: the AWS side of Session Manager is emulated on %s\n\n", d.s.URL())
	fmt.Fprint(d.out, exportLines(d.s.Env()))
	fmt.Fprintln(d.out)
	writeInstances(d.out, d.s.Fleet())
	fmt.Fprint(d.out, "\n"+paceLine(d.s.AgentPace()))

	d.step("SSH over the data channel from Go (golang.org/x/crypto/ssh, no OpenSSH, no plugin)", d.goSSH)
	d.step("OpenSSH through ssmproxy: ssh -o ProxyCommand='ssmproxy %h %p'", d.opensshExec)
	d.step("OpenSSH by EC2 Name tag: ssh web-al2023.ssm", d.opensshByName)
	d.step("scp round trip through ssmproxy, with checksums", d.scpRoundTrip)
	d.step("ssmssh: SSH built in, no OpenSSH: exit status and the user from the AMI", d.ssmssh)
	d.step("ssmscp round trip, SFTP up and legacy scp (-O) down, with checksums", d.ssmscp)
	d.step("ssmsftp -b: a batch of mkdir, put, ls, rename, get", d.ssmsftp)
	d.step("ssmsession: a shell fed from a pipe, and a command's exit status (-T)", d.ssmsession)
	d.step("ssmsession -L and -D: a tunnel (AWS-StartPortForwardingSession, smux) and a SOCKS5 proxy", d.tunnel)
	d.step("The AWS CLI with our session-manager-plugin: aws ssm start-session, a non-interactive command", d.awsCLI)
	d.step("A clear error for an instance whose agent is offline", d.offline)

	closeErr := d.s.Close()
	fmt.Fprintln(d.out)
	if len(d.skipped) > 0 {
		fmt.Fprintf(d.out, "skipped: %s\n", strings.Join(d.skipped, "; "))
	}
	if closeErr != nil {
		d.failed = append(d.failed, "emulator shutdown: "+closeErr.Error())
	}
	if len(d.failed) > 0 {
		return fmt.Errorf("demo: %d step(s) failed: %s", len(d.failed), strings.Join(d.failed, "; "))
	}
	fmt.Fprintln(d.out, "demo: every step passed; the emulator left no session behind")
	return nil
}

var errSkip = errors.New("skipped")

func (d *demoRun) step(title string, f func() error) {
	fmt.Fprintf(d.out, "\n==> %s\n", title)
	err := f()
	switch {
	case errors.Is(err, errSkip):
		fmt.Fprintf(d.out, "    (%v)\n", err)
		d.skipped = append(d.skipped, title)
	case err != nil:
		fmt.Fprintf(d.out, "    FAILED: %v\n", err)
		d.failed = append(d.failed, title)
	default:
		fmt.Fprintln(d.out, "    ok")
	}
}

func (d *demoRun) makeKey() error {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	if d.signer, err = ssh.NewSignerFromKey(priv); err != nil {
		return err
	}
	block, err := ssh.MarshalPrivateKey(priv, "ssmlocal demo")
	if err != nil {
		return err
	}
	d.key = filepath.Join(d.dir, "id_ed25519")
	if err := os.WriteFile(d.key, pem.EncodeToMemory(block), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(d.dir, "authorized_keys"), ssh.MarshalAuthorizedKey(d.signer.PublicKey()), 0o600)
}

// writeKnownHosts records every instance's host key under its instance id
// and its Name tag with the .ssm suffix, so OpenSSH checks them strictly.
func (d *demoRun) writeKnownHosts() error {
	var b strings.Builder
	for _, in := range d.s.Fleet().Instances() {
		k := d.s.HostKey(in.InstanceID)
		b.WriteString(in.InstanceID + "," + in.Name + ssmclient.DefaultHostSuffix + " " + string(ssh.MarshalAuthorizedKey(k)))
	}
	d.known = filepath.Join(d.dir, "known_hosts")
	return os.WriteFile(d.known, []byte(b.String()), 0o600)
}

func withoutAWS(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "AWS_") {
			out = append(out, kv)
		}
	}
	return out
}

// client returns an ssmclient for the emulator.
func (d *demoRun) client() (*ssmclient.Client, error) {
	cfg, err := d.s.AWSConfig(d.ctx)
	if err != nil {
		return nil, err
	}
	return ssmclient.NewClientFromConfig(cfg), nil
}

func (d *demoRun) goSSH() error {
	c, err := d.client()
	if err != nil {
		return err
	}
	target := ssmtest.InstanceAmazonLinux
	fmt.Fprintf(d.out, "    StartSession(%s, AWS-StartSSHSession) → ssh.NewClientConn → run `echo hello from $(uname -s)`\n", target)
	sess, err := c.StartSession(d.ctx, ssmclient.StartInput{
		Target: target, DocumentName: ssmclient.DocumentSSH, Parameters: map[string][]string{"portNumber": {"22"}},
	})
	if err != nil {
		return err
	}
	defer sess.Close()
	conn, chans, reqs, err := ssh.NewClientConn(sess, target, &ssh.ClientConfig{
		User: "ec2-user", Auth: []ssh.AuthMethod{ssh.PublicKeys(d.signer)},
		HostKeyCallback: ssh.FixedHostKey(d.s.HostKey(target)), Timeout: 10 * time.Second,
	})
	if err != nil {
		return err
	}
	sc := ssh.NewClient(conn, chans, reqs)
	defer sc.Close()
	ss, err := sc.NewSession()
	if err != nil {
		return err
	}
	out, err := ss.CombinedOutput("echo hello from $(uname -s)")
	d.show(out)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(string(out), "hello from ") {
		return fmt.Errorf("unexpected output %q", out)
	}
	fmt.Fprintf(d.out, "    session %s: %d messages sent, %d resent\n", sess.ID, sess.Stats().Sent, sess.Stats().Resent)
	return nil
}

func (d *demoRun) proxyCommand(extra string) (string, error) {
	p := filepath.Join(d.bin, "ssmproxy")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%w: no ssmproxy in %s (run make build)", errSkip, d.bin)
	}
	return p + extra + " %h %p", nil
}

func (d *demoRun) sshArgs(tool string, proxy string) []string {
	args := []string{"-F", "/dev/null", "-i", d.key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
		"-o", "UserKnownHostsFile=" + d.known, "-o", "StrictHostKeyChecking=yes", "-o", "ProxyCommand=" + proxy}
	if tool == "scp" {
		args = append(args, "-q")
	}
	return args
}

func (d *demoRun) run(name string, args ...string) ([]byte, error) {
	if _, err := exec.LookPath(name); err != nil {
		return nil, fmt.Errorf("%w: %s is not installed", errSkip, name)
	}
	shown := make([]string, 0, len(args))
	for _, a := range args {
		if strings.ContainsAny(a, " %'") {
			a = "'" + a + "'"
		}
		shown = append(shown, a)
	}
	fmt.Fprintf(d.out, "    $ %s %s\n", name, strings.Join(shown, " "))
	ctx, cancel := context.WithTimeout(d.ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = d.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil && stderr.Len() > 0 {
		return out, fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return out, err
}

func (d *demoRun) show(out []byte) {
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		fmt.Fprintf(d.out, "    | %s\n", line)
	}
}

func (d *demoRun) opensshExec() error {
	proxy, err := d.proxyCommand("")
	if err != nil {
		return err
	}
	args := append(d.sshArgs("ssh", proxy), "ec2-user@"+ssmtest.InstanceAmazonLinux, "echo hello over ssmproxy; exit 3")
	out, err := d.run("ssh", args...)
	d.show(out)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		return fmt.Errorf("want exit status 3 from the remote command, got %v", err)
	}
	fmt.Fprintln(d.out, "    remote exit status 3 came back through ssh")
	return nil
}

func (d *demoRun) opensshByName() error {
	proxy, err := d.proxyCommand("")
	if err != nil {
		return err
	}
	args := append(d.sshArgs("ssh", proxy), "ec2-user@web-al2023"+ssmclient.DefaultHostSuffix, "echo resolved by name")
	out, err := d.run("ssh", args...)
	d.show(out)
	return err
}

func (d *demoRun) scpRoundTrip() error {
	proxy, err := d.proxyCommand("")
	if err != nil {
		return err
	}
	args := d.sshArgs("scp", proxy)
	return d.roundTrip("scp", "", func(from, to string) error {
		_, err := d.run("scp", append(args, from, to)...)
		return err
	}, func(from, to string) error {
		_, err := d.run("scp", append(args, from, to)...)
		return err
	})
}

// roundTrip sends d.payload random bytes to the instance with up and
// brings them back with down (each given a source and a destination,
// remote ones as user@instance:path), and compares checksums.
func (d *demoRun) roundTrip(name, by string, up, down func(from, to string) error) error {
	src := filepath.Join(d.dir, name+"-payload.bin")
	data := make([]byte, d.payload)
	_, _ = rand.Read(data)
	if err := os.WriteFile(src, data, 0o600); err != nil {
		return err
	}
	remote := filepath.Join(d.dir, name+"-on-the-instance.bin")
	back := filepath.Join(d.dir, name+"-back.bin")
	host := "ec2-user@" + ssmtest.InstanceAmazonLinux
	start := time.Now()
	if err := up(src, host+":"+remote); err != nil {
		return err
	}
	if err := down(host+":"+remote, back); err != nil {
		return err
	}
	elapsed := time.Since(start)
	got, err := os.ReadFile(back)
	if err != nil {
		return err
	}
	want, have := sha256.Sum256(data), sha256.Sum256(got)
	fmt.Fprintf(d.out, "    sent     sha256 %s\n    received sha256 %s\n", hex.EncodeToString(want[:]), hex.EncodeToString(have[:]))
	if want != have {
		return errors.New("checksums differ")
	}
	fmt.Fprintf(d.out, "    %d MiB moved%s in %v\n", 2*d.payload>>20, by, elapsed.Round(time.Millisecond))
	return nil
}

func (d *demoRun) offline() error {
	proxy, err := d.proxyCommand("")
	if err != nil {
		return err
	}
	args := append(d.sshArgs("ssh", proxy), "ec2-user@"+ssmtest.InstanceRHEL, "true")
	_, err = d.run("ssh", args...)
	if errors.Is(err, errSkip) {
		return err
	}
	if err == nil {
		return errors.New("ssh succeeded against an offline instance")
	}
	msg := err.Error()
	if i := strings.Index(msg, "ssmproxy: "); i >= 0 {
		msg, _, _ = strings.Cut(msg[i:], "\n")
	}
	fmt.Fprintf(d.out, "    | %s\n", msg)
	if !strings.Contains(msg, "not connected") {
		return fmt.Errorf("the message does not name the cause: %s", msg)
	}
	return nil
}

// awsCLIPath is the AWS CLI v2 the demo drives (Debian's awscli; an
// "aws" first on PATH may be another version).
const awsCLIPath = "/usr/bin/aws"

// awsCLI runs one unmodified aws ssm start-session with our
// session-manager-plugin first on PATH. This AWS CLI (2.9) predates
// AWS_ENDPOINT_URL, so it is given --endpoint-url; it trusts the
// emulator's CA through AWS_CA_BUNDLE.
func (d *demoRun) awsCLI() error {
	if _, err := os.Stat(awsCLIPath); err != nil {
		return fmt.Errorf("%w: the AWS CLI v2 (%s) is not installed", errSkip, awsCLIPath)
	}
	if _, err := d.tool("session-manager-plugin"); err != nil {
		return err
	}
	env := d.env
	d.env = nil
	for _, kv := range env {
		if p, ok := strings.CutPrefix(kv, "PATH="); ok {
			kv = "PATH=" + d.bin + string(os.PathListSeparator) + p
		}
		d.env = append(d.env, kv)
	}
	defer func() { d.env = env }()
	out, err := d.run(awsCLIPath, "--endpoint-url", d.s.URL(), "--region", d.s.Region(),
		"ssm", "start-session", "--target", ssmtest.InstanceAmazonLinux,
		"--document-name", ssmtest.DocStartNonInteractiveCommand,
		"--parameters", `{"command":["echo hello from aws ssm start-session"],"separateOutputStream":["true"]}`)
	d.show(out)
	if err != nil {
		return err
	}
	if !strings.Contains(string(out), "hello from aws ssm start-session") {
		return fmt.Errorf("the command's output did not come back")
	}
	return nil
}

// tool is the path of one of our commands in d.bin, or errSkip.
func (d *demoRun) tool(name string) (string, error) {
	p := filepath.Join(d.bin, name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%w: no %s in %s (run make build)", errSkip, name, d.bin)
	}
	return p, nil
}

// builtinArgs are the options ssmssh, ssmscp and ssmsftp need here: the
// demo key and known_hosts, no ~/.ssh/config, no prompts.
func (d *demoRun) builtinArgs() []string {
	return []string{"-F", "none", "-i", d.key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
		"-o", "UserKnownHostsFile=" + d.known, "-o", "StrictHostKeyChecking=yes"}
}

func (d *demoRun) ssmssh() error {
	ssmssh, err := d.tool("ssmssh")
	if err != nil {
		return err
	}
	// No user given: ssmssh asks EC2 for the instance's AMI (Ubuntu here).
	args := append(d.builtinArgs(), "-v", ssmtest.InstanceUbuntu, "echo hello from ssmssh; exit 7")
	out, err := d.run(ssmssh, args...)
	d.show(out)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		return fmt.Errorf("want exit status 7 from the remote command, got %v", err)
	}
	// run appends ssmssh's -v diagnostics to the error.
	for _, line := range strings.Split(err.Error(), "\n") {
		if i := strings.Index(line, "ssmssh: default user"); i >= 0 {
			fmt.Fprintf(d.out, "    %s\n", line[i:])
		}
	}
	fmt.Fprintln(d.out, "    remote exit status 7 came back through ssmssh")
	return nil
}

func (d *demoRun) ssmscp() error {
	ssmscp, err := d.tool("ssmscp")
	if err != nil {
		return err
	}
	args := append(d.builtinArgs(), "-q")
	return d.roundTrip("ssmscp", " by ssmscp", func(from, to string) error {
		_, err := d.run(ssmscp, append(args, from, to)...)
		return err
	}, func(from, to string) error {
		_, err := d.run(ssmscp, append(append(args, "-O"), from, to)...)
		return err
	})
}

func (d *demoRun) ssmsftp() error {
	ssmsftp, err := d.tool("ssmsftp")
	if err != nil {
		return err
	}
	local := filepath.Join(d.dir, "notes.txt")
	if err := os.WriteFile(local, []byte("written by the ssmlocal demo\n"), 0o600); err != nil {
		return err
	}
	remoteDir := filepath.Join(d.dir, "sftp-on-the-instance")
	fetched := filepath.Join(d.dir, "notes-fetched.txt")
	batch := filepath.Join(d.dir, "batch.txt")
	lines := []string{
		"mkdir " + remoteDir,
		"cd " + remoteDir,
		"put " + local,
		"rename notes.txt notes-renamed.txt",
		"ls",
		"get notes-renamed.txt " + fetched,
		"-rm no-such-file",
	}
	if err := os.WriteFile(batch, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	for _, l := range lines {
		fmt.Fprintf(d.out, "    < %s\n", l)
	}
	out, err := d.run(ssmsftp, append(d.builtinArgs(), "-b", batch, "ec2-user@"+ssmtest.InstanceAmazonLinux)...)
	d.show(out)
	if err != nil {
		return err
	}
	got, err := os.ReadFile(fetched)
	if err != nil {
		return err
	}
	if string(got) != "written by the ssmlocal demo\n" {
		return fmt.Errorf("fetched %q", got)
	}
	fmt.Fprintln(d.out, "    the file went up, was renamed there, and came back intact")
	return nil
}

// ssmsession runs a shell session with its input from a pipe (the end of
// the pipe is the terminal's end of file), then a non-interactive command
// whose stderr stays apart and whose exit status comes back.
func (d *demoRun) ssmsession() error {
	bin, err := d.tool("ssmsession")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(d.ctx, 2*time.Minute)
	defer cancel()
	fmt.Fprintf(d.out, "    $ printf 'echo hello from a Session Manager shell\\nexit\\n' | ssmsession %s\n", ssmtest.InstanceAmazonLinux)
	cmd := exec.CommandContext(ctx, bin, ssmtest.InstanceAmazonLinux)
	cmd.Env = d.env
	cmd.Stdin = strings.NewReader("echo hello from a Session Manager shell\nexit\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	d.show(out)
	d.show(stderr.Bytes())
	if err != nil {
		return fmt.Errorf("shell session: %v", err)
	}
	if !strings.Contains(string(out), "hello from a Session Manager shell") {
		return errors.New("the shell's output is missing")
	}

	args := []string{"-q", "-T", ssmtest.InstanceAmazonLinux, "--", "sh", "-c", "'echo to stdout; echo to stderr >&2; exit 3'"}
	fmt.Fprintf(d.out, "    $ ssmsession %s 2>stderr.txt\n", strings.Join(args, " "))
	cmd = exec.CommandContext(ctx, bin, args...)
	cmd.Env = d.env
	stderr.Reset()
	cmd.Stderr = &stderr
	out, err = cmd.Output()
	d.show(out)
	fmt.Fprintln(d.out, "    stderr.txt:")
	d.show(stderr.Bytes())
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		return fmt.Errorf("want exit status 3 from the remote command, got %v", err)
	}
	if strings.Contains(string(out), "to stderr") || !strings.Contains(stderr.String(), "to stderr") {
		return errors.New("stderr was not kept apart")
	}
	fmt.Fprintln(d.out, "    remote exit status 3 came back through ssmsession; stderr stayed on stderr")
	return nil
}
