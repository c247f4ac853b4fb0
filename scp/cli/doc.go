// Package cli is the ssmscp command line: OpenSSH's scp for EC2 instances
// reached through AWS Systems Manager Session Manager, with no OpenSSH,
// plugin or AWS CLI installed. See [SCP].
//
// A remote path is "[user@]host:path", on either side; the host is what
// ssmssh accepts (an instance id, a Name tag, "name.ssm", an ssh_config
// Host). As in OpenSSH, an argument is local when it has no ':' before
// its first '/' ("./a:b") or begins with ':'. Files go over SFTP
// (package [github.com/ssmssh/ssmssh/scp]), or over the legacy scp
// protocol with -O, as OpenSSH 9 does. Connecting, ssh_config, keys, host
// keys and EC2 Instance Connect are ssmssh's
// ([github.com/ssmssh/ssmssh/sshclient/cli.Connect]).
//
// Exit status: 0 when every file was copied, 1 when some failed (each
// reported as "ssmscp: path: reason"), 2 for usage errors, 255 when the
// connection failed.
package cli
