// Package tty holds what the interactive commands share about the local
// terminal: OpenSSH's escape sequences (~. and friends) recognised in
// what the user types, resize notifications, and terminal checks that do
// not switch a file to blocking mode. ssmssh's shell (sshclient) and
// ssmsession's (shell) both use it, so that the two agree on every
// keystroke.
package tty
