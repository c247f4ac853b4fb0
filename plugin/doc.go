// Package plugin is a drop-in session-manager-plugin: it takes over a
// session the AWS CLI (or any tool built like it: aws ecs
// execute-command, aws-gate, gossm, ecsgo, Ansible's aws_ssm connection)
// has started, and runs it on this module's protocol stack through
// ssmclient.OpenSession.
//
// ParseArgs reads the command line the callers use (see args.go for every
// form); Run opens the data channel, learns the kind of session from the
// agent's handshake as the official plugin does (KindOf), runs it, and
// terminates the session on every way out with the credentials of the
// profile it was given:
//
//   - stdio (AWS-StartSSHSession and other Port documents without
//     LocalPortForwarding): stdin and stdout are the stream, through
//     proxy.Serve, as ssmproxy runs it; nothing else is written to stdout,
//     before or after (AWS's plugin writes "Exiting session…" into ssh's
//     closed pipe and dies of SIGPIPE), and stdin's end terminates the
//     session (AWS's plugin leaves it Disconnected).
//   - non-interactive commands: the command's stdout and stderr apart, and
//     its exit status as the plugin's (AWS's plugin always exits 0). The
//     "Starting session" and "Exiting session" lines go to stderr, so that
//     stdout is the command's alone.
//   - shells and interactive commands: the terminal through shell.Run
//     (raw mode, window size, no escape character, as AWS's plugin has
//     none); SIGINT, SIGQUIT and SIGTSTP, which the AWS CLI ignores and
//     leaves to the plugin, reach the shell as Ctrl-C, Ctrl-\ and Ctrl-Z.
//   - port forwarding (LocalPortForwarding): a loopback listener on
//     localPortNumber through forward.Listen with the session it was
//     handed (smux streams on agents that have them), AWS's lines on
//     stdout; the plugin ends with that session.
//
// Resume after a dropped websocket, in both directions, comes with
// ssmclient's session; so do KMS calls that honour the endpoint settings.
// No message at any verbosity contains the token: the response is
// described, never quoted.
package plugin
