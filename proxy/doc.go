// Package proxy is ssmproxy: an OpenSSH ProxyCommand that carries the SSH
// connection over an AWS Systems Manager Session Manager session started
// with the AWS-StartSSHSession document.
//
// Run joins the session's data stream to a pair of byte streams (the
// ProxyCommand's stdin and stdout, or a local TCP connection) with Join.
// In ProxyCommand mode stdout carries session bytes only; diagnostics go
// to the injected logger (stderr, when asked for).
package proxy
