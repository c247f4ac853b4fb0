package protocol

import (
	"fmt"
	"net"

	"github.com/xtaci/smux"
)

// Port forwarding sessions (document property type LocalPortForwarding)
// run smux over the data stream when both ends are new enough
// (AgentSupportsMux on the client, ClientSupportsMux on the agent): the
// client is the smux client and opens one stream per local connection; the
// agent is the smux server and dials the destination for each stream it
// accepts. smux frames are not aligned with Output payloads: the plugin
// and the agent each read the smux byte stream 1024 bytes at a time and
// send what they read.
//
// Both ends use smux.DefaultConfig (protocol version 1) and disable
// keepalive when the other end is new enough to do the same, since
// keepalive frames would keep an idle session alive past the service's
// idle timeout.
//
// In mux mode the agent reports a failed dial with Flag ConnectToPortError
// and closes that stream; the session goes on. Make the client's Conn with
// an OnFlag that does not end the read side for it (MuxFlagHandler).

// NewMuxClient starts the client's smux session over conn, the data
// stream of a port forwarding session with an agent of agentVersion.
func NewMuxClient(conn net.Conn, agentVersion string) (*smux.Session, error) {
	cfg := smux.DefaultConfig()
	cfg.KeepAliveDisabled = AgentDisablesKeepalive(agentVersion)
	s, err := smux.Client(conn, cfg)
	if err != nil {
		return nil, fmt.Errorf("protocol: mux client: %w", err)
	}
	return s, nil
}

// NewMuxServer starts the agent's smux session over conn, the data stream
// of a port forwarding session with a client of clientVersion.
func NewMuxServer(conn net.Conn, clientVersion string) (*smux.Session, error) {
	cfg := smux.DefaultConfig()
	cfg.KeepAliveDisabled = ClientDisablesKeepalive(clientVersion)
	s, err := smux.Server(conn, cfg)
	if err != nil {
		return nil, fmt.Errorf("protocol: mux server: %w", err)
	}
	return s, nil
}

// MuxFlagHandler returns a ConnConfig.OnFlag for a mux client: it reports
// ConnectToPortError (one stream's dial failed on the instance) to logf
// and reads on, and ends the read side on DisconnectToPort and
// TerminateSession.
func MuxFlagHandler(logf func(format string, args ...any)) func(Flag) error {
	logf = logfOrNop(logf)
	return func(f Flag) error {
		if f == FlagConnectToPortError {
			logf("protocol: mux: the agent could not connect to the destination port for a stream")
			return nil
		}
		return DefaultFlagHandler(f)
	}
}
