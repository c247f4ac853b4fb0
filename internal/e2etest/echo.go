package e2etest

import (
	"io"
	"net"
	"testing"
)

// EchoServer starts a loopback TCP server that writes back what it reads,
// for sessions to reach through an instance port; it stops in t.Cleanup.
func EchoServer(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}
