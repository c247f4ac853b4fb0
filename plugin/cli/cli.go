// Package cli is the command line of session-manager-plugin; the command
// in cmd/session-manager-plugin only calls Main.
package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ssmssh/ssmssh/internal/version"
	"github.com/ssmssh/ssmssh/plugin"
	"github.com/ssmssh/ssmssh/protocol"
	"github.com/ssmssh/ssmssh/proxy"
)

// ExitFailure is the exit status of a session that failed (as ssh's 255).
const ExitFailure = 255

// ExitStatusEnv names the variable that chooses when the exit status is
// passed on (see CLI.Main).
const ExitStatusEnv = "SSMSSH_PLUGIN_EXIT_STATUS"

// VerboseEnv names the variable that turns on diagnostics on stderr.
const VerboseEnv = "SSMSSH_PLUGIN_VERBOSE"

// CLI is session-manager-plugin's command line.
type CLI struct {
	Stdin  io.ReadCloser
	Stdout io.WriteCloser
	Stderr io.Writer
	// Signals are the user's SIGINT, SIGQUIT and SIGTSTP (see
	// plugin.Config.Signals): a shell gets them as Ctrl-C, Ctrl-\ and
	// Ctrl-Z; nil: none.
	Signals <-chan os.Signal
	// Getenv and Unsetenv reach the environment (nil: os.Getenv,
	// os.Unsetenv).
	Getenv   func(string) string
	Unsetenv func(string) error
}

// Main runs the plugin with args (without the program name) and returns
// its exit status.
//
// The status is 0 for a session that ended normally, the remote exit
// status of a non-interactive command, and 255 (after one line on stderr
// naming the cause) for a failure. One exception protects the token: when
// the response came in argv (as AWS CLIs before the environment-variable
// form pass it), a non-zero status makes the AWS CLI print its whole
// command line, the StartSession response and its token included
// ("Command '[...]' returned non-zero exit status 3."), so the plugin then
// exits 0 as AWS's plugin always does, after the same line on stderr.
// SSMSSH_PLUGIN_EXIT_STATUS=always passes the status on regardless,
// =never never does.
func (c *CLI) Main(ctx context.Context, args []string) int {
	getenv, unsetenv := c.Getenv, c.Unsetenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if unsetenv == nil {
		unsetenv = os.Unsetenv
	}
	a, err := plugin.ParseArgs(args, getenv, unsetenv)
	if err != nil {
		fmt.Fprintf(c.Stderr, "session-manager-plugin: %s\n", strings.TrimPrefix(err.Error(), "plugin: "))
		return 2
	}
	switch a.Mode {
	case plugin.ModeInstalled:
		fmt.Fprintf(c.Stdout, "\nThe Session Manager plugin was installed successfully. Use the AWS CLI to start a session.\n\n")
		return 0
	case plugin.ModeVersion:
		// Tools compare this with the plugin releases they need: it is
		// the release whose protocol this plugin speaks.
		fmt.Fprintln(c.Stdout, protocol.ClientVersion)
		if version.Version != "dev" {
			fmt.Fprintf(c.Stderr, "(ssmssh %s)\n", version.Version)
		}
		return 0
	}
	cfg := plugin.Config{Args: a, Stdin: c.Stdin, Stdout: c.Stdout, Stderr: c.Stderr, Signals: c.Signals, Getenv: getenv}
	if getenv(VerboseEnv) != "" {
		cfg.Logf = func(format string, args ...any) {
			fmt.Fprintf(c.Stderr, "session-manager-plugin: "+format+"\n", args...)
		}
	}
	res, err := plugin.Run(ctx, cfg)
	code := res.ExitCode
	if err != nil {
		fmt.Fprintf(c.Stderr, "session-manager-plugin: %s\n", proxy.UserMessage(err, a.Request.Param("portNumber")))
		code = ExitFailure
	}
	switch getenv(ExitStatusEnv) {
	case "always":
		return code
	case "never":
		return 0
	}
	if a.ResponseEnv == "" && code != 0 {
		return 0
	}
	return code
}
