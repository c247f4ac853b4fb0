package e2etest

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// EchoServer starts a loopback TCP server that writes back what it reads,
// for sessions to reach through an instance port. Cleanup closes the
// listener and every connection and waits for its goroutines.
func EchoServer(tb testing.TB) string {
	tb.Helper()
	addr, _ := CountingEchoServer(tb)
	return addr
}

// CountingEchoServer is EchoServer that also counts the connections it
// accepted.
func CountingEchoServer(tb testing.TB) (string, *atomic.Int32) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var (
		accepted atomic.Int32
		mu       sync.Mutex
		conns    = map[net.Conn]bool{}
		wg       sync.WaitGroup
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Go(func() {
				_, _ = io.Copy(c, c)
				c.Close()
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
			})
		}
	})
	tb.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String(), &accepted
}

// EchoCheck writes size pseudo-random bytes (from seed) to c while
// reading as many back, and reports an echo whose SHA-256 differs. The
// caller sets any deadline.
func EchoCheck(c io.ReadWriter, size int, seed uint64) error {
	var key [32]byte
	for i := range 8 {
		key[i] = byte(seed >> (8 * i))
	}
	sent := make(chan []byte, 1)
	werr := make(chan error, 1)
	go func() {
		h := sha256.New()
		_, err := io.Copy(c, io.TeeReader(io.LimitReader(rand.NewChaCha8(key), int64(size)), h))
		werr <- err
		sent <- h.Sum(nil)
	}()
	h := sha256.New()
	got, err := io.CopyN(h, c, int64(size))
	if err != nil {
		return fmt.Errorf("echo of %d bytes: read %d: %w", size, got, err)
	}
	if err := <-werr; err != nil {
		return fmt.Errorf("echo of %d bytes: write: %w", size, err)
	}
	if want := <-sent; !bytes.Equal(h.Sum(nil), want) {
		return fmt.Errorf("echo of %d bytes: SHA-256 %x, want %x", size, h.Sum(nil), want)
	}
	return nil
}

// EchoSHA256 connects to the echo server at addr (through a forwarded
// port) and runs EchoCheck on the connection within a minute.
func EchoSHA256(addr string, size int, seed uint64) error {
	c, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(time.Minute)); err != nil {
		return err
	}
	if err := EchoCheck(c, size, seed); err != nil {
		return fmt.Errorf("connection %d through %s: %w", seed, addr, err)
	}
	return nil
}
