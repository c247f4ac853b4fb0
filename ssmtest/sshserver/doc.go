// Package sshserver is the emulator's built-in SSH server: what port 22 of
// an emulated instance leads to when no real sshd is configured.
//
// It is built on golang.org/x/crypto/ssh and runs everything as the user of
// the current process; the login name only selects which authorized keys
// apply and what $USER says. It offers:
//
//   - public-key authentication only, against an authorized_keys file read
//     at every attempt and an optional callback (so keys pushed for a short
//     time, like EC2 Instance Connect's, stop working when they expire);
//   - "exec" requests, run as Shell -c COMMAND with separate stdout and
//     stderr, "env" honoured, and the result reported as "exit-status" or
//     "exit-signal";
//   - "pty-req" and "shell" with a real pseudo-terminal, TERM taken from
//     the request and "window-change" resizing it;
//   - the "sftp" subsystem, served in process by github.com/pkg/sftp;
//   - "direct-tcpip" channels (ssh -L) to loopback destinations only;
//   - "signal" requests delivered to the session's process.
//
// Legacy scp works because "scp -t" and "scp -f" are ordinary exec requests
// that run the scp binary installed on the machine.
//
// Child processes run in their own process group (or session, with a
// terminal). When a client goes away its processes get SIGHUP; Close kills
// whatever is left with SIGKILL and waits for every goroutine.
package sshserver
