package e2etest

import (
	"net"
	"sync"
	"testing"
	"time"
)

// delayChunks bounds the chunks in flight in one direction of a
// DelayProxy connection (32 KiB each).
const delayChunks = 1024

// DelayProxy listens on loopback and relays each connection to target
// with rtt/2 of delay in each direction, as a long link would, without
// limiting bandwidth: the ceiling against which the emulator's latency
// fault is measured. It stops, closing every connection, in tb.Cleanup,
// and returns its address.
func DelayProxy(tb testing.TB, target string, rtt time.Duration) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	track := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	tb.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			track(in)
			track(out)
			wg.Add(2)
			go func() { defer wg.Done(); delayCopy(out, in, rtt/2) }()
			go func() { defer wg.Done(); delayCopy(in, out, rtt/2) }()
		}
	}()
	return l.Addr().String()
}

// delayCopy copies src to dst, each chunk written delay after it was
// read, and then half-closes dst.
func delayCopy(dst, src net.Conn, delay time.Duration) {
	type chunk struct {
		due  time.Time
		data []byte
	}
	q := make(chan chunk, delayChunks)
	go func() {
		defer close(q)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				q <- chunk{time.Now().Add(delay), buf[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range q {
		time.Sleep(time.Until(c.due))
		if _, err := dst.Write(c.data); err != nil {
			src.Close()
			for range q { // let the reader finish
			}
			return
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}
