package sshclient

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssmssh/ssmssh/internal/e2etest"
)

func TestParseForward(t *testing.T) {
	tests := []struct {
		spec string
		want Forward
		bind string
	}{
		{"8080:localhost:80", Forward{BindPort: 8080, Host: "localhost", HostPort: 80}, "localhost:8080"},
		{"127.0.0.1:8080:db:5432", Forward{BindAddress: "127.0.0.1", BindPort: 8080, Host: "db", HostPort: 5432}, "127.0.0.1:8080"},
		{":8080:db:5432", Forward{BindAddress: "*", BindPort: 8080, Host: "db", HostPort: 5432}, "*:8080"},
		{"*:8080:db:5432", Forward{BindAddress: "*", BindPort: 8080, Host: "db", HostPort: 5432}, "*:8080"},
		{"[::1]:0:[fe80::1]:22", Forward{BindAddress: "::1", BindPort: 0, Host: "fe80::1", HostPort: 22}, "[::1]:0"},
		{"8080/10.0.0.1/80", Forward{BindPort: 8080, Host: "10.0.0.1", HostPort: 80}, "localhost:8080"},
	}
	for _, tt := range tests {
		got, err := ParseForward(tt.spec)
		if err != nil || got != tt.want {
			t.Errorf("ParseForward(%q) = %+v, %v; want %+v", tt.spec, got, err, tt.want)
			continue
		}
		if got.Bind() != tt.bind {
			t.Errorf("%q: Bind() = %q, want %q", tt.spec, got.Bind(), tt.bind)
		}
		// String gives the -L form back, which parses to the same.
		again, err := ParseForward(got.String())
		if err != nil || again != got {
			t.Errorf("%q: String() = %q parses to %+v, %v", tt.spec, got.String(), again, err)
		}
	}
	for _, bad := range []string{"", "80", "80:host", "a:b:c", "1:2:3:4:5", "8080:host:0", "8080:host:70000", "[::1:80:h:1", "8080::80", "0:[[]:1"} {
		if f, err := ParseForward(bad); err == nil {
			t.Errorf("ParseForward(%q) = %+v, want an error", bad, f)
		}
	}
}

// TestLocalForward carries 20 concurrent connections of 256 KiB each
// through -L to an echo server and checks every byte came back, and that
// each connection's EOF reached the echo server as a half-close (it
// echoes until EOF, then closes, which is the only way the client sees
// EOF).
func TestLocalForward(t *testing.T) {
	key := newSigner(t)
	for _, srv := range servers(t, key.PublicKey()) {
		t.Run(srv.name, func(t *testing.T) {
			client := srv.mustDial(t, srv.testConfig(t, key))
			echo := e2etest.EchoServer(t)
			var warnings []string
			var wmu sync.Mutex
			f, err := LocalForward(t.Context(), client, "127.0.0.1:0", echo, func(format string, args ...any) {
				wmu.Lock()
				defer wmu.Unlock()
				warnings = append(warnings, format)
			})
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()

			const conns, size = 20, 256 << 10
			var wg sync.WaitGroup
			for i := range conns {
				wg.Go(func() {
					c, err := net.Dial("tcp", f.Addr().String())
					if err != nil {
						t.Errorf("conn %d: %v", i, err)
						return
					}
					defer c.Close()
					c.SetDeadline(time.Now().Add(60 * time.Second))
					data := make([]byte, size)
					rand.Read(data)
					sent := sha256.Sum256(data)
					go func() {
						c.Write(data)
						c.(*net.TCPConn).CloseWrite()
					}()
					got, err := io.ReadAll(c)
					if err != nil {
						t.Errorf("conn %d: read: %v", i, err)
						return
					}
					if len(got) != size || sha256.Sum256(got) != sent {
						t.Errorf("conn %d: got %d bytes back, checksum match %v", i, len(got), sha256.Sum256(got) == sent)
					}
				})
			}
			wg.Wait()
			if len(warnings) > 0 {
				t.Errorf("warnings: %q", warnings)
			}
		})
	}
}

func TestLocalForwardRefusedAndClose(t *testing.T) {
	key := newSigner(t)
	srv := startBuiltin(t)
	srv.authorize(t, key.PublicKey())
	client := srv.mustDial(t, srv.testConfig(t, key))

	// A destination nobody listens on: the local connection is closed and
	// the failure reported.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	warned := make(chan string, 1)
	f, err := LocalForward(t.Context(), client, "localhost:0", closed, func(format string, args ...any) {
		select {
		case warned <- format:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", f.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("read from a refused forwarding: %d, %v; want EOF", n, err)
	}
	c.Close()
	select {
	case w := <-warned:
		if !strings.Contains(w, "open failed") {
			t.Errorf("warning %q", w)
		}
	case <-time.After(10 * time.Second):
		t.Error("no warning for a refused forwarding")
	}

	// Close ends open connections and stops listening.
	echo := e2etest.EchoServer(t)
	f2, err := LocalForward(t.Context(), client, "127.0.0.1:0", echo, nil)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := net.Dial("tcp", f2.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c2.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c2, buf); err != nil || !bytes.Equal(buf, []byte("ping")) {
		t.Fatalf("echo: %q, %v", buf, err)
	}
	f2.Close()
	if _, err := c2.Read(buf); err == nil {
		t.Error("connection still open after Close")
	}
	if c3, err := net.DialTimeout("tcp", f2.Addr().String(), 2*time.Second); err == nil {
		c3.Close()
		t.Error("still listening after Close")
	}
	f.Close()
}

func TestLocalForwardStopsWithContextAndClient(t *testing.T) {
	key := newSigner(t)
	srv := startBuiltin(t)
	srv.authorize(t, key.PublicKey())
	client := srv.mustDial(t, srv.testConfig(t, key))
	echo := e2etest.EchoServer(t)

	ctx, cancel := context.WithCancel(t.Context())
	f, err := LocalForward(ctx, client, "127.0.0.1:0", echo, nil)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	waitDone(t, f)

	f2, err := LocalForward(t.Context(), client, "127.0.0.1:0", echo, nil)
	if err != nil {
		t.Fatal(err)
	}
	client.Close()
	waitDone(t, f2)
	f2.Close() // again: a no-op
}

// waitDone waits until f has stopped and checks nothing listens.
func waitDone(t *testing.T, f *Forwarder) {
	t.Helper()
	select {
	case <-f.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("forwarder did not stop")
	}
	if c, err := net.Dial("tcp", f.Addr().String()); err == nil {
		c.Close()
		t.Errorf("%s still listening", f.Addr())
	}
}
