package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestSplitShort(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{[]string{"-NL", "8080:h:80", "host"}, []string{"-N", "-L", "8080:h:80", "host"}},
		{[]string{"-p22", "-vvv", "host", "-x"}, []string{"-p", "22", "-v", "-v", "-v", "host", "-x"}},
		{[]string{"-tt", "-ikey", "u@h", "ls", "-l"}, []string{"-t", "-t", "-i", "key", "u@h", "ls", "-l"}},
		{[]string{"-i", "-weird-file", "h"}, []string{"-i", "-weird-file", "h"}},
		{[]string{"--profile", "p", "-instance-connect", "-region=r", "h"}, []string{"--profile", "p", "-instance-connect", "-region=r", "h"}},
		{[]string{"-profile", "p", "h"}, []string{"-profile", "p", "h"}},
		{[]string{"--region", "r", "-NT", "h"}, []string{"--region", "r", "-N", "-T", "h"}},
		{[]string{"--bogus", "-NT", "h"}, []string{"--bogus", "-NT", "h"}},
		{[]string{"-Nx", "h"}, []string{"-Nx", "h"}},
		{[]string{"-o", "User=x", "--", "-h"}, []string{"-o", "User=x", "--", "-h"}},
	} {
		if got := splitShort(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("splitShort(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestUserMessage(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{context.Canceled, "interrupted"},
		{fmt.Errorf("sshclient: x: %w", context.Canceled), "interrupted"},
		{errors.New("sshclient: a\n  b"), "a b"},
	} {
		if got := UserMessage(tc.err); got != tc.want {
			t.Errorf("UserMessage(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
