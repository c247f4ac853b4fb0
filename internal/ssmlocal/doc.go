// Package ssmlocal is the ssmlocal command: it runs the ssmtest emulator
// of the AWS side of Session Manager (APIs, gateway, built-in agents and
// SSH servers) for people, prints what a shell needs to use it, and walks
// through a demo.
package ssmlocal
