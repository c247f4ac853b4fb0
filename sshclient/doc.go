// Package sshclient is the SSH client of ssmssh, ssmscp and ssmsftp:
// everything about SSH that does not care how the bytes travel. It is
// handed a net.Conn (a Session Manager data stream, a TCP connection, a
// pipe) and runs golang.org/x/crypto/ssh over it, behaving as OpenSSH's
// ssh would with the same configuration.
//
// # Configuration
//
// [Resolve] computes a [Config] for a destination the way ssh does (and
// ssh -G shows): command-line settings ([Options].Settings: -o, and -l, -p,
// -i, -L through [FlagSetting]) first, then the destination's user@ and
// :port, then ~/.ssh/config (or -F) and /etc/ssh/ssh_config; the first
// value of a keyword wins, IdentityFile and LocalForward accumulate.
// github.com/kevinburke/ssh_config parses the files and matches Host
// patterns; Match (all, host, originalhost, user, localuser, canonical,
// final, with a second pass for final as OpenSSH makes) and Include (relative
// to ~/.ssh, globbing) are evaluated here, because that package would read
// Include files from the real home directory and rejects most Match
// criteria. "Match exec" is never run and never matches. HostName's %h,
// and ~, ${VAR} and the tokens %C %d %h %i %k %L %l %n %p %r %u in
// IdentityFile, UserKnownHostsFile and ProxyCommand are expanded as
// OpenSSH 9 expands them; [Config.SetUser] expands %r again once a program
// has chosen the default user. A ProxyCommand that runs ssmproxy, or the
// AWS CLI's "aws ssm start-session --document-name AWS-StartSSHSession", is
// recognised ([Config].UsesSSMProxy, [SSMProxy]) so that ssmssh can start
// the session itself instead of proxying through a second program.
//
// # Connecting
//
// [Dial] runs the handshake over the given connection with
// cfg.ConnectTimeout and the context, verifies the host key and logs in,
// and keeps the connection alive with keepalive@openssh.com requests when
// ServerAliveInterval is set (ServerAliveCountMax unanswered intervals
// close it, as in OpenSSH).
//
// Host keys are checked against known_hosts (golang.org/x/crypto/ssh/knownhosts)
// under [Config.HostKeyName]: HostKeyAlias, else HostName, the instance id
// when a program resolved one. A first contact follows StrictHostKeyChecking
// (ask asks on the terminal, with OpenSSH's question, and accepts "yes" or
// the fingerprint; accept-new and no record the key; yes refuses). A key
// that differs from the recorded one is always refused, whatever the
// policy, with a [*HostKeyChangedError] whose Warning is OpenSSH's
// "REMOTE HOST IDENTIFICATION HAS CHANGED" block with the offending line
// and the ssh-keygen -R command. Host key algorithms of keys already on
// file are preferred, as OpenSSH prefers them, so a server with several
// host keys shows the known one.
//
// Authentication offers keys in OpenSSH's order: [Config].ExtraSigners (an
// EC2 Instance Connect key from [PushInstanceConnectKey]) first, then agent
// keys (SSH_AUTH_SOCK or IdentityAgent) that match an identity file, then
// the agent's other keys unless IdentitiesOnly, then the identity files
// the agent lacks (RSA, ECDSA, Ed25519; PEM, PKCS#8 or OpenSSH format;
// ~/.ssh/id_rsa, id_ecdsa, id_ed25519 when none is configured, in OpenSSH
// 9's order). An encrypted key whose public key is known (OpenSSH format,
// or a .pub file beside it) is offered first and decrypted only if the
// server accepts it; its passphrase is asked for through the
// [ssmclient.Prompter] (the terminal, never stdin) up to
// NumberOfPasswordPrompts times, and an empty answer skips the key. Then
// keyboard-interactive and password prompts, where the server allows and
// the configuration does not forbid them. A refused login is an
// [*AuthError] naming the methods and the keys that could not be used.
//
// # Sessions
//
// [Run] executes a command with separate stdout and stderr and returns
// its exit status (255, [ExitConnectionError], when there is none, as ssh
// does). [Shell] runs an interactive session with a PTY: raw mode, TERM,
// the terminal's modes and size (SIGWINCH forwarded) and OpenSSH's escapes
// after a newline (~. ~? ~B ~~). [LocalForward] serves -L with any number
// of concurrent connections, each a direct-tcpip channel joined to the
// local connection with half-close ([Join]).
//
// Nothing here writes to stdout or stderr: diagnostics go to Config.Logf
// and the notices OpenSSH prints without -v to Config.Warnf.
package sshclient
