package plugin

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/ssmssh/ssmssh/forward"
	"github.com/ssmssh/ssmssh/ssmclient"
)

// isPortForwarding reports whether a request asks for a port-forwarding
// session, which must be opened with forward.FlagHandler so that a
// destination's refused dial (Flag ConnectToPortError) ends only that
// connection. The handshake alone tells the kind for sure, but the flag
// handler is set before it: AWS's documents have PortForwarding in their
// names, and a custom port document takes localPortNumber.
func isPortForwarding(r Request) bool {
	if strings.Contains(r.DocumentName, "PortForwarding") {
		return true
	}
	_, ok := r.Parameters["localPortNumber"]
	return ok
}

// runPort serves a LocalPortForwarding session as AWS's plugin does: a
// listener on the loopback address at localPortNumber (an unused port
// when the request names none, or 0), each accepted connection a stream
// of the session (mux agents) and the plugin's lines on stdout: "Port N
// opened for sessionId X.", "Waiting for connections...", "Connection
// accepted for session [X]". The session it was handed is the only one:
// when the service ends it the plugin ends too, and a signal (ctx) closes
// the listener and terminates the session.
func runPort(ctx context.Context, sess *ssmclient.Session, cfg Config, out *forward.Printer, logf func(string, ...any)) error {
	req := cfg.Args.Request
	spec := forward.Spec{BindAddress: forward.DefaultBindAddress}
	if p := req.Param("localPortNumber"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 65535 {
			sess.Close()
			return fmt.Errorf("plugin: localPortNumber %q is not a port number", p)
		}
		spec.BindPort = n
	}
	// The destination is the agent's business; Spec only names it in
	// messages.
	spec.Host = req.Param("host")
	spec.Port, _ = strconv.Atoi(req.Param("portNumber"))

	out.Printf("\nStarting session with SessionId: %s", sess.ID)
	ended := make(chan error, 1)
	f, err := forward.Listen(ctx, forward.Config{
		Session: sess, Target: sess.Target, Out: out, Logf: logf,
		OnSessionEnd: func(_ string, err error) {
			select {
			case ended <- err:
			default:
			}
		},
	}, spec)
	if err != nil {
		sess.Close()
		return err
	}
	served := make(chan error, 1)
	go func() { served <- f.Serve() }()
	var serr error
	select {
	case <-ctx.Done():
	case <-ended:
	case serr = <-served:
	}
	f.Close()
	if serr == nil {
		serr = <-served
	}
	out.Printf("\n\nExiting session with sessionId: %s.\n", sess.ID)
	return serr
}
