// Command dial is a small example of ssmssh as a library: it starts a
// Session Manager session to an instance, logs in over SSH on top of it
// and runs one command, the way ssmssh does without its command line.
//
//	go run ./examples/dial ec2-user@i-0123456789abcdef0 uname -a
//
// The AWS side comes from the usual places (AWS_PROFILE, AWS_REGION, the
// shared config files); the SSH side from ~/.ssh/config, its keys, the
// ssh-agent and ~/.ssh/known_hosts. Against the offline emulator:
//
//	bin/ssmlocal & eval "$(bin/ssmlocal env)"
//	go run ./examples/dial ec2-user@i-0a1b2c3d4e5f00001 hostname
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/ssmssh/ssmssh/sshclient"
	"github.com/ssmssh/ssmssh/ssmclient"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code, err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "dial:", err)
	}
	os.Exit(code)
}

// run connects to args[0] ("[user@]instance") and runs the rest of args
// as a command there, returning its exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	if len(args) < 2 {
		return 2, errors.New("usage: dial [user@]instance command [argument ...]")
	}

	// 1. The SSH configuration, resolved as OpenSSH would: ~/.ssh/config,
	// the user, the port, identity files, known_hosts.
	cfg, err := sshclient.Resolve(args[0], sshclient.Options{})
	if err != nil {
		return 255, err
	}
	if cfg.User == "" {
		return 2, fmt.Errorf("give a user: user@%s", cfg.HostName)
	}
	port := cfg.Port
	if port == 0 {
		port = sshclient.DefaultPort
	}

	// 2. AWS: the SDK configuration and a Session Manager session running
	// the AWS-StartSSHSession document. The session is a net.Conn.
	aws, err := ssmclient.NewClient(ctx, ssmclient.AWSOptions{})
	if err != nil {
		return 255, ssmclient.Explain(err)
	}
	sess, err := aws.StartSession(ctx, ssmclient.StartInput{
		Target:       cfg.HostName,
		DocumentName: ssmclient.DocumentSSH,
		Parameters:   map[string][]string{"portNumber": {strconv.Itoa(port)}},
	})
	if err != nil {
		return 255, ssmclient.Explain(err)
	}

	// 3. SSH over that connection: host key checked against known_hosts,
	// keys from the configuration and the agent.
	client, err := sshclient.Dial(ctx, sess, cfg)
	if err != nil {
		return 255, err
	}
	defer client.Close()

	// 4. The command, its output streamed, its exit status returned. A
	// non-zero status is the command's own answer, not an error here.
	code, err := sshclient.Run(ctx, client, strings.Join(args[1:], " "), nil, stdout, stderr)
	var exit *ssh.ExitError
	if errors.As(err, &exit) && exit.Signal() == "" {
		err = nil
	}
	return code, err
}
