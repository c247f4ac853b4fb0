package sshclient

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// silentServer accepts TCP connections and never says a word.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

func TestDialTimeoutAndCancel(t *testing.T) {
	addr := silentServer(t)
	cfg := &Config{HostName: "silent", User: "u", IdentityAgent: "none", ConnectTimeout: 300 * time.Millisecond}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = Dial(t.Context(), conn, cfg)
	if !errors.Is(err, ErrConnectTimeout) || time.Since(start) > 10*time.Second {
		t.Errorf("Dial = %v after %v, want ErrConnectTimeout", err, time.Since(start))
	}
	if _, err := conn.Write([]byte("x")); err == nil {
		t.Error("Dial left the connection open after failing")
	}

	cfg.ConnectTimeout = 0
	conn, err = net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err = Dial(ctx, conn, cfg)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Dial with a cancelled context = %v", err)
	}

	if _, err := Dial(t.Context(), conn, &Config{HostName: "h"}); !errors.Is(err, ErrNoUser) {
		t.Errorf("Dial without a user = %v", err)
	}
}

func TestDialBanner(t *testing.T) {
	user := newSigner(t)
	srv, _ := recordingServer(t, user.PublicKey(), func(c *ssh.ServerConfig) {
		c.BannerCallback = func(ssh.ConnMetadata) string { return "Authorized use only.\r\n" }
	})
	cfg := knownPipeConfig(t, srv)
	cfg.ExtraSigners = []ssh.Signer{user}
	var warned []string
	cfg.Warnf = func(f string, a ...any) { warned = append(warned, strings.TrimSpace(f+" "+a[0].(string))) }
	c, err := Dial(t.Context(), srv.connect(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if len(warned) != 1 || !strings.Contains(warned[0], "Authorized use only.") {
		t.Errorf("banner: %q", warned)
	}
}
