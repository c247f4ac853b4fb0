package forward_test

import (
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ssmssh/ssmssh/ssmtest"
)

// BenchmarkLocalForward measures -L throughput through the emulator, down
// (the instance's port sends) and up, with 1 and 8 connections at once
// (the 8 share one smux session, so one agent reader), paced like the real
// agent (about 1 MB/s per session down; uploads are not paced) and
// unpaced, beside the same transfers straight to the loopback server
// (…/direct, no agent). Each connection moves 16 MiB unpaced and direct,
// 2 MiB paced (1 MiB and 256 KiB with -benchtime 1x, as make test runs
// it); MB/s is the total of all connections.
func BenchmarkLocalForward(b *testing.B) {
	size, pacedSize := int64(16<<20), int64(2<<20)
	if f := flag.Lookup("test.benchtime"); f != nil && f.Value.String() == "1x" {
		size, pacedSize = 1<<20, 256<<10
	}
	src := sourceServer(b)
	e := newEnv(b, ssmtest.Options{})
	if err := e.s.Fleet().SetPort(ssmtest.InstanceUbuntu, "9000", src); err != nil {
		b.Fatal(err)
	}
	f := e.forward(b, ssmtest.InstanceUbuntu, "0:9000")
	for _, dir := range []string{"down", "up"} {
		for _, conns := range []int{1, 8} {
			name := fmt.Sprintf("%s/conns=%d", dir, conns)
			b.Run(name+"/paced", func(b *testing.B) {
				e.s.SetAgentPace(ssmtest.RealAgentPace)
				defer e.s.SetAgentPace(ssmtest.Pace{})
				benchTransfer(b, f.Addr().String(), dir, conns, pacedSize)
			})
			b.Run(name+"/unpaced", func(b *testing.B) {
				benchTransfer(b, f.Addr().String(), dir, conns, size)
			})
			b.Run(name+"/direct", func(b *testing.B) {
				benchTransfer(b, src, dir, conns, size)
			})
		}
	}
}

// benchTransfer moves size bytes on each of conns connections to addr
// (a sourceServer, directly or through a forwarder), b.N times.
func benchTransfer(b *testing.B, addr, dir string, conns int, size int64) {
	b.SetBytes(size * int64(conns))
	for range b.N {
		var wg sync.WaitGroup
		errs := make(chan error, conns)
		for range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := transferOnce(addr, dir, size); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
	}
}

// transferOnce asks a sourceServer for size bytes ('d') or sends it size
// bytes and waits for its one-byte receipt ('u').
func transferOnce(addr, dir string, size int64) error {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Minute))
	req := binary.BigEndian.AppendUint64([]byte{dir[0]}, uint64(size))
	if _, err := c.Write(req); err != nil {
		return err
	}
	if dir == "down" {
		n, err := io.Copy(io.Discard, c)
		if err == nil && n != size {
			err = fmt.Errorf("received %d bytes of %d", n, size)
		}
		return err
	}
	if _, err := io.CopyN(c, zeros{}, size); err != nil {
		return err
	}
	_, err = io.ReadFull(c, make([]byte, 1))
	return err
}

// sourceServer is a loopback server that, per connection, reads a
// direction byte and a big-endian u64 size, then sends that many bytes
// and closes ('d'), or reads that many and answers one byte ('u').
func sourceServer(tb testing.TB) string {
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
				var req [9]byte
				if _, err := io.ReadFull(c, req[:]); err != nil {
					return
				}
				size := int64(binary.BigEndian.Uint64(req[1:]))
				if req[0] == 'd' {
					_, _ = io.CopyN(c, zeros{}, size)
					return
				}
				if _, err := io.CopyN(io.Discard, c, size); err == nil {
					_, _ = c.Write([]byte{1})
				}
			}()
		}
	}()
	return ln.Addr().String()
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
