package cli

import (
	"context"
	"errors"
	"flag"
	"strings"
	"sync"

	"github.com/ssmssh/ssmssh/forward"
	"github.com/ssmssh/ssmssh/ssmclient"
)

func init() { Register(newForwardKind) }

// forwardKind is port forwarding: -L and -D, as ssh spells them, each
// repeatable; it runs only forwardings (-N is implied) until interrupted.
type forwardKind struct {
	specs     specList
	noCommand bool
}

func newForwardKind() Kind { return &forwardKind{} }

// specList collects -L and -D values, parsed as they come so that a bad
// one is a usage error naming it.
type specList []forward.Spec

func (l *specList) String() string {
	s := make([]string, len(*l))
	for i, f := range *l {
		s[i] = f.String()
	}
	return strings.Join(s, " ")
}

type specFlag struct {
	l     *specList
	parse func(string) (forward.Spec, error)
}

func (f specFlag) String() string {
	if f.l == nil {
		return ""
	}
	return f.l.String()
}

func (f specFlag) Set(v string) error {
	s, err := f.parse(v)
	if err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "forward: "))
	}
	*f.l = append(*f.l, s)
	return nil
}

func (k *forwardKind) Flags(fs *flag.FlagSet) {
	fs.Var(specFlag{&k.specs, forward.ParseLocal}, "L",
		"forward local `[bind:]lport:[host:]port` to the instance's port, or to host:port as the instance reaches it (repeatable; lport 0 picks a free one; bind default 127.0.0.1, * for all)")
	fs.Var(specFlag{&k.specs, forward.ParseDynamic}, "D",
		"SOCKS5 server on `[bind:]port`: each CONNECT goes to its host and port, names resolved by the instance (repeatable)")
	fs.BoolVar(&k.noCommand, "N", false, "no shell or command, only forwardings (implied by -L and -D)")
}

func (k *forwardKind) Wants([]string) bool { return len(k.specs) > 0 || k.noCommand }

// Run listens on every forwarding (all or none: a port in use or a
// refused first session ends the command with its reason), then serves
// until interrupted (SIGINT, SIGTERM, SIGHUP), terminating the sessions
// on the way out. Sessions the service ends are replaced at the next
// connection; see package forward.
func (k *forwardKind) Run(ctx context.Context, s *Setup) int {
	if len(k.specs) == 0 {
		return s.Fail(errors.New("-N without -L or -D: nothing to do"))
	}
	if len(s.Command) > 0 {
		return s.Fail(errors.New("-L and -D forward only, as with -N: run the command in another ssmsession"))
	}
	if s.DocumentName != "" || len(s.Parameters) > 0 {
		return s.Fail(errors.New("-L and -D choose their documents (AWS-StartPortForwardingSession, AWS-StartPortForwardingSessionToRemoteHost): --document-name and --parameters do not combine with them"))
	}
	// The agent is checked once per kind of document, before anything
	// listens.
	checked := map[bool]bool{}
	for _, spec := range k.specs {
		remote := spec.Dynamic || spec.Host != ""
		if checked[remote] {
			continue
		}
		checked[remote] = true
		doc, params := ssmclient.DocumentPortForwarding, map[string][]string{"portNumber": {"80"}}
		if remote {
			doc, params["host"] = ssmclient.DocumentPortForwardingRemote, []string{"localhost"}
		}
		if err := s.Client.CheckAgent(ctx, s.Target, doc, params, s.Logf); err != nil {
			return s.Fail(err)
		}
	}
	var out *forward.Printer
	if !s.Quiet {
		out = forward.NewPrinter(s.Stderr)
	}
	cfg := forward.Config{
		Client: starter{s}, Target: s.Target.ID, Reason: s.Reason,
		Out: out, Errors: forward.NewPrinter(s.Stderr), Logf: s.Logf,
	}
	var fwds []*forward.Forwarder
	closeAll := func() {
		var wg sync.WaitGroup
		for _, f := range fwds {
			if t := f.Tunnel(); t != nil {
				if id := t.SessionID(); id != "" {
					s.Exited(id)
				}
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				f.Close()
			}()
		}
		wg.Wait()
	}
	for _, spec := range k.specs {
		f, err := forward.Listen(ctx, cfg, spec)
		if err != nil {
			closeAll()
			return s.Fail(err)
		}
		fwds = append(fwds, f)
	}
	served := make(chan error, len(fwds))
	for _, f := range fwds {
		go func() { served <- f.Serve() }()
	}
	select {
	case <-ctx.Done():
		closeAll()
		return 0
	case err := <-served:
		closeAll()
		return s.Fail(err)
	}
}

// starter starts the forwardings' sessions as Setup.Start does, with the
// same explanations, but prints through the forwarder.
type starter struct{ s *Setup }

func (st starter) StartSession(ctx context.Context, in ssmclient.StartInput) (*ssmclient.Session, error) {
	sess, err := st.s.Client.StartSession(ctx, in)
	if err != nil {
		return nil, ssmclient.DiagnoseNotConnected(ctx, st.s.Client.EC2, st.s.Client.Config.Region, st.s.Target, err)
	}
	return sess, nil
}
