package cli

import (
	"bytes"
	"encoding/pem"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/crypto/ssh"

	"github.com/ssmssh/ssmssh/internal/e2etest"
)

// TestParallelPassphraseAskedOnce copies 32 MiB over four sessions with
// a passphrase-protected key and no agent: the built ssmscp, its
// controlling terminal a pty, asks for the passphrase once, and every
// session joins with the key it decrypted.
func TestParallelPassphraseAskedOnce(t *testing.T) {
	e := start(t)
	key := encryptedKey(t, e.Sshd.ClientKeyFile, filepath.Join(e.Dir, "id_secret"), "correct horse")
	src := filepath.Join(e.Dir, "big.bin")
	sum := e2etest.RandomFile(t, src, 32<<20, 45)
	dst := filepath.Join(mkdir(t, filepath.Join(e.Dir, "remote")), "copy.bin")
	args := []string{"-F", "none", "-v", "--sessions", "4",
		"-o", "User=" + e.Sshd.User, "-o", "IdentityFile=" + key, "-o", "IdentitiesOnly=yes",
		"-o", "IdentityAgent=none", "-o", "UserKnownHostsFile=" + e.KnownHosts,
		"-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=60",
		src, e.remote(dst)}

	cmd := e.Command(e.binary, args...)
	var stdout, stderr e2etest.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	ptmx, err := pty.Start(cmd) // stdin and the controlling terminal
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		ptmx.Close()
	})

	// The terminal: answer each passphrase prompt, keep what was shown.
	var mu sync.Mutex
	var screen bytes.Buffer
	go func() {
		buf := make([]byte, 4096)
		answered := 0
		for {
			n, err := ptmx.Read(buf)
			mu.Lock()
			screen.Write(buf[:n])
			if strings.Count(screen.String(), "Enter passphrase") > answered {
				answered++
				_, _ = io.WriteString(ptmx, "correct horse\n")
			}
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()

	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ssmscp: %v\n%s", err, stderr.String())
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("ssmscp did not finish:\n%s", stderr.String())
	}
	if e2etest.FileSHA256(t, dst) != sum {
		t.Fatal("the copy differs")
	}
	mu.Lock()
	shown := screen.String()
	mu.Unlock()
	if n := strings.Count(shown, "Enter passphrase for key '"+key+"'"); n != 1 {
		t.Errorf("the passphrase was asked %d times, want once; the terminal showed %q", n, shown)
	}
	errs := stderr.String()
	if strings.Contains(errs, "correct horse") || strings.Contains(shown, "correct horse") {
		t.Error("the passphrase was shown")
	}
	if n := strings.Count(errs, "joins the copy"); n != 3 {
		t.Errorf("%d sessions joined, want 3:\n%s", n, errs)
	}
	if strings.Contains(errs, "no passphrase given") {
		t.Errorf("a later session skipped the key:\n%s", errs)
	}
}

// encryptedKey writes the unencrypted OpenSSH key at from to path,
// protected by passphrase, and returns path.
func encryptedKey(t *testing.T, from, path, passphrase string) string {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := ssh.ParseRawPrivateKey(data)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKeyWithPassphrase(raw, "", []byte(passphrase))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
