package e2etest

import (
	"flag"
	"net"
	"os"
	"strconv"
	"strings"
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

// DirectSSHOptionsRTT are DirectSSHOptions, at rtt > 0 through a
// DelayProxy in front of sshd (one per Env and round-trip time, living as
// long as the Env, whichever sub-test or sub-benchmark asks first): the
// ceiling a path through the emulator at that latency is compared with.
func (e *Env) DirectSSHOptionsRTT(rtt time.Duration) []string {
	if rtt <= 0 {
		return e.DirectSSHOptions()
	}
	e.delayMu.Lock()
	if e.delayed == nil {
		e.delayed = map[time.Duration]string{}
	}
	addr, ok := e.delayed[rtt]
	if !ok {
		addr = DelayProxy(e.owner, e.Sshd.Addr, rtt)
		e.delayed[rtt] = addr
	}
	e.delayMu.Unlock()
	_, sshdPort, _ := net.SplitHostPort(e.Sshd.Addr)
	_, port, _ := net.SplitHostPort(addr)
	// ssh takes the first value of each option: the relay's port, and
	// sshd's known_hosts name for the host key.
	return append([]string{"-o", "Port=" + port, "-o", "HostKeyAlias=[127.0.0.1]:" + sshdPort}, e.DirectSSHOptions()...)
}

// BenchSize is the transfer size of a benchmark: the environment variable
// env (bytes, or a number with a KiB, MiB or GiB suffix), else 256 MiB,
// or 8 MiB when -benchtime is 1x (a smoke run, as make test does), which
// oneShot reports.
func BenchSize(tb testing.TB, env string) (size int64, oneShot bool) {
	tb.Helper()
	if f := flag.Lookup("test.benchtime"); f != nil && f.Value.String() == "1x" {
		oneShot = true
	}
	s := os.Getenv(env)
	if s == "" {
		if oneShot {
			return 8 << 20, true
		}
		return 256 << 20, false
	}
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		tb.Fatalf("%s: %q is not a positive number of bytes, KiB, MiB or GiB", env, s)
	}
	return n * mult, oneShot
}
