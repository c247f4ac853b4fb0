// Package shell runs the terminal side of Session Manager shell and
// command sessions over an established data stream: what
// session-manager-plugin does for Standard_Stream, InteractiveCommands and
// NonInteractiveCommands sessions, and what ssmsession (shell/cli) and the
// drop-in plugin build on. It knows nothing of flags or AWS: the caller
// starts the session (ssmclient.StartSession or OpenSession), hands its
// stream to [Run] with the local terminal in [Options], and closes the
// session afterwards.
//
// # What Run does
//
// With Options.Terminal (shells and interactive commands, which the agent
// runs on a pseudo-terminal) and a terminal as Stdin, the terminal is put
// in raw mode, so that every key, Ctrl-C and Ctrl-Z included, goes to the
// remote side as typed; its size is sent at the start and again after
// every resize (SIGWINCH; polled where there is none). OpenSSH's escapes
// work after a newline: "~." leaves the session, "~?" lists the escapes,
// "~~" sends one "~" (there is no BREAK in the protocol, so "~B" is sent
// as typed). The end of Stdin sends the terminal's end-of-file character
// (Ctrl-D), so that a shell fed from a pipe exits when the pipe ends.
//
// Without Terminal (NonInteractiveCommands), input is not sent: the agent
// reads none, and only scans what the client sends for Ctrl-C and Ctrl-\,
// which it turns into SIGINT and SIGQUIT for the command. Options.Signals
// carries the local signals that become those characters (SIGINT → ^C,
// SIGQUIT → ^\, SIGTSTP → ^Z), as the plugin sends them.
//
// Output payloads go to Stdout. StdErr payloads, which agents from
// 3.1.1511.0 send for NonInteractiveCommands documents with
// separateOutputStream, go wherever the stream's creator pointed them
// (ssmclient.StartInput.Stderr, protocol.ConnConfig.Stderr): the stream
// delivers them as it reads, so they are not reordered with the output.
//
// # Exit status
//
// A session that ends normally (the shell or command exited, channel
// closed without a reason) gives 0, or the command's own exit status when
// the agent sent an ExitCode payload (separate output streams only: the
// agent reports no exit status for shells or interactive commands, and the
// official plugin ignores it even when it does, plugin issue 59). Anything
// else gives [ExitFailure] (255, as ssh) and an error: the session ended
// with a reason (a *ssmclient.SessionEndedError naming it), the ~. escape
// ([ErrEscapeDisconnect]), ctx cancelled, or a broken stream.
package shell
