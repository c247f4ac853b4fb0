// Package cli is the ssmsession command line: every kind of Session
// Manager session from one command, natively (no AWS CLI, no plugin).
//
//	ssmsession [options] target                 a shell (SSM-SessionManagerRunShell)
//	ssmsession [options] target -- command …    an interactive command (AWS-StartInteractiveCommand)
//	ssmsession -T [options] target -- command … a non-interactive command, its exit status ours
//	ssmsession --document-name D [--parameters P] target
//
// Targets, AWS configuration, prompts and error explanations are
// ssmclient's, as for ssmproxy and ssmssh. The terminal side is package
// shell.
//
// # Session kinds
//
// Each way of using a session is a [Kind]: it adds its flags to the
// command line, says from the parsed command line whether it was asked
// for, and runs. [CLI.Main] asks the kinds in order (the registered ones,
// see [Register], before the built-in shell and command kinds) and runs
// the first that wants the command line, so port forwarding (-L, -D, -N)
// plugs in as one more Kind without touching the others.
package cli
