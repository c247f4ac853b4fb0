package ssmclient

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTTYPrompterNoTerminal(t *testing.T) {
	notTTY := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notTTY, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{notTTY, filepath.Join(t.TempDir(), "missing")} {
		_, err := (&TTYPrompter{Path: path}).Prompt("code: ", true)
		if !errors.Is(err, ErrNoTerminal) {
			t.Errorf("Prompt on %s: %v, want ErrNoTerminal", path, err)
		}
	}
}

func TestMFATokenProvider(t *testing.T) {
	var asked string
	var hiddenAsked bool
	p := PrompterFunc(func(msg string, hidden bool) (string, error) {
		asked, hiddenAsked = msg, hidden
		return " 654321\n", nil
	})
	code, err := MFATokenProvider(p, "admin", "arn:aws:iam::123456789012:mfa/alice")()
	if err != nil || code != "654321" {
		t.Fatalf("token = %q, %v", code, err)
	}
	if !hiddenAsked || !strings.Contains(asked, "arn:aws:iam::123456789012:mfa/alice") || !strings.Contains(asked, "admin") {
		t.Errorf("prompt %q (hidden %v) should name the device and profile and hide input", asked, hiddenAsked)
	}

	empty := PrompterFunc(func(string, bool) (string, error) { return "  ", nil })
	if _, err := MFATokenProvider(empty, "admin", "serial")(); err == nil {
		t.Error("empty code accepted")
	}

	missing := filepath.Join(t.TempDir(), "no-tty")
	_, err = MFATokenProvider(&TTYPrompter{Path: missing}, "admin", "serial")()
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeNoTerminal || !errors.Is(err, ErrNoTerminal) {
		t.Fatalf("no terminal: %v", err)
	}
	if !strings.Contains(err.Error(), "MFA token needed for profile admin but no terminal is available") {
		t.Errorf("message %q", err)
	}
}
