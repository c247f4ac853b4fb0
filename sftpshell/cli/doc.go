// Package cli is the ssmsftp command line: an OpenSSH-style sftp client
// that reaches EC2 instances through AWS Systems Manager Session Manager
// by itself. See [SFTP].
//
// It connects with the same [github.com/ssmssh/ssmssh/sshclient/cli.Connect]
// as ssmssh and ssmscp (ssh_config, AWS configuration, target, default
// user, host keys), opens the sftp subsystem, and hands the session to a
// [github.com/ssmssh/ssmssh/sftpshell.Shell]: commands from a batch file
// (-b), from a terminal with a prompt and line editing, or from a pipe.
package cli
