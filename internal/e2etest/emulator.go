package e2etest

import (
	"net/http"
	"testing"

	"github.com/ssmssh/ssmssh/ssmclient"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// Emulator starts an emulator alone (no sshd: for tests of the APIs,
// sessions and port targets) and returns it with a client of it. Its log
// goes to log when opts.Logf is nil. It closes in Cleanup, where sessions
// still live are a failure, as in Start.
func Emulator(tb testing.TB, log *Log, opts ssmtest.Options) (*ssmtest.Server, *ssmclient.Client) {
	tb.Helper()
	if opts.Logf == nil {
		opts.Logf = log.Logf
	}
	s, err := ssmtest.NewServer(opts)
	if err != nil {
		tb.Fatalf("e2etest: %v", err)
	}
	cfg, err := s.AWSConfig(tb.Context())
	if err != nil {
		s.Close()
		tb.Fatalf("e2etest: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("e2etest: emulator Close: %v", err)
		}
		cfg.HTTPClient.(*http.Client).CloseIdleConnections()
	})
	return s, ssmclient.NewClientFromConfig(cfg)
}
