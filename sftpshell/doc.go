// Package sftpshell is an interactive sftp shell, in the manner of
// OpenSSH's sftp, as a library: a [Shell] runs command lines ("ls -l",
// "get -R dir", "chmod 640 *.txt") against a [github.com/pkg/sftp.Client],
// keeping its own remote and local working directories, so that a program
// (ssmsftp, a test) can drive a remote file system the way a person at the
// sftp> prompt does.
//
// Commands read from a [LineReader] run one by one until end of input or
// "exit". In [Interactive] mode a failing command is reported on Stderr and
// the shell goes on; in [Batch] mode (sftp -b) each line is echoed as
// "sftp> line", as OpenSSH does, and the first failing command ends Run
// with a [*LineError], unless the line starts with '-'. Lines starting
// with '#' are comments.
//
// Relative remote paths are taken against the remote working directory,
// which starts at the login directory (the server's idea of "."), and
// relative local paths against the shell's local directory, which lcd
// changes without touching the process's own. Remote and local arguments
// may be glob patterns (*, ?, [...]), quoted or backslash-escaped to mean
// themselves. get and put copy with package
// [github.com/ssmssh/ssmssh/scp], the one recursive copier of ssmscp and
// ssmsftp.
//
// Errors name the side and the path: remote path "/srv/x": no such file.
// A [*PathError] wraps the underlying error, so errors.Is(err,
// fs.ErrNotExist) and fs.ErrPermission work on what a command returns.
//
// The command line, ssmsftp, is in the sub-package cli.
package sftpshell
