// Package forward is port forwarding over Session Manager, natively: what
// `aws ssm start-session --document-name AWS-StartPortForwardingSession`
// and the session-manager-plugin do, plus forwarding to any host through
// a SOCKS5 server. It knows nothing of flags or of how a command prints
// its help; ssmsession (-L, -D) and the drop-in session-manager-plugin
// build on it.
//
// # Pieces
//
//   - [Spec], [ParseLocal], [ParseDynamic]: one forwarding as the user
//     writes it ("[bind:]lport:port", "[bind:]lport:host:port",
//     "[bind:]port" for SOCKS).
//   - [Tunnel]: connections to one destination through sessions of
//     AWS-StartPortForwardingSession (the instance's own port) or
//     AWS-StartPortForwardingSessionToRemoteHost (a host the instance
//     reaches), started with ssmclient.StartSession: one session carrying
//     smux streams with current agents, one basic-mode session per
//     connection with agents too old for smux (PROTOCOL.md section 7), a
//     new session when the service has ended the last one.
//   - [Forwarder]: a listener ([Listen]) whose connections go through a
//     Tunnel (-L), or a SOCKS5 server (-D, CONNECT only, no
//     authentication; domain names are handed to the instance to resolve)
//     that keeps one Tunnel per destination host and port.
//   - [Printer]: the official plugin's lines, in its words, so that
//     scripts waiting for them keep working: "Starting session with
//     SessionId: X", "Port N opened for sessionId X.", "Waiting for
//     connections...", "Connection accepted for session [X]" (once per
//     session) and "Connection to destination port failed, check SSM
//     Agent logs." (the plugin prints them on stdout; ssmsession passes
//     stderr). A nil Printer is silent (-q).
//
// # Use
//
//	spec, err := forward.ParseLocal("127.0.0.1:0:db.internal:5432")
//	f, err := forward.Listen(ctx, forward.Config{
//		Client: client, Target: "i-0123…", Out: forward.NewPrinter(os.Stderr),
//	}, spec)
//	go f.Serve()
//	… connect to f.Addr() …
//	f.Close() // stops listening and terminates the sessions
//
// A session someone else started (the AWS CLI hands the plugin its
// StartSession response) is used through Config.Session, opened with
// ssmclient.OpenSession and FlagHandler as its OnFlag; without a Client,
// the forwarding then ends with that session (Config.OnSessionEnd says
// when).
//
// # Behaviour worth knowing
//
// The listener binds where the spec says (default 127.0.0.1; "*" or an
// empty bind address for every interface), unlike the plugin, which only
// listens on localhost. A local port 0 picks a free port, and the "Port N
// opened" line names it.
//
// In mux mode the agent dials the destination once per stream; a refused
// dial arrives as Flag ConnectToPortError, not tied to a stream, and the
// agent closes that stream: its local connection reads EOF, the plugin's
// message is printed, and the session and the other connections go on.
// A dropped websocket is resumed by ssmclient without losing data; the
// streams do not notice. When the service ends the session (idle timeout,
// maximum duration, TerminateSession) its connections end, the reason is
// printed, the listener stays up, and the next connection starts a new
// session.
//
// SOCKS5: the reply to CONNECT is sent once the stream is opened; smux
// has no open confirmation and the agent dials lazily, so a destination
// the instance cannot reach shows as a connection that closes at once
// (with the plugin's message), not as a refusal in the SOCKS reply.
package forward
