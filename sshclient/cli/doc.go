// Package cli is the ssmssh command line: an OpenSSH-style ssh client that
// reaches EC2 instances through AWS Systems Manager Session Manager by
// itself, without a ProxyCommand. See [SSH].
//
// [Connect], [Report], [SettingFlag] and [ShortFlags] are the parts
// ssmscp and ssmsftp share with it, so that the three commands resolve,
// authenticate and fail alike.
package cli
