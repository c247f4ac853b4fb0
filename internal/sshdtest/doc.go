// Package sshdtest starts a real OpenSSH sshd for tests, in the spirit of
// net/http/httptest: Start gives a daemon listening on a free 127.0.0.1
// port with its own host key, its own sshd_config and authorized_keys in a
// temporary directory, and a client key already authorised for the current
// OS user. The daemon and everything it forked are killed in t.Cleanup.
//
// Tests that call Start are skipped when /usr/sbin/sshd is not installed
// (CI installs openssh-server). Running as root, Start creates the
// privilege separation directory /run/sshd if it is missing, and logins as
// root are permitted by key.
//
// sshd refuses logins to locked accounts when PAM is off (a shadow
// password starting with "!"); Sshd.Log shows sshd's reasons.
package sshdtest
