// Package cli is the ssmssh command line: an OpenSSH-style ssh client that
// reaches EC2 instances through AWS Systems Manager Session Manager by
// itself, without a ProxyCommand. See [SSH].
package cli
