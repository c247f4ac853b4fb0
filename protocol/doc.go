// Package protocol speaks the AWS Systems Manager Session Manager
// data-channel protocol, for both ends of a session: the client (what the
// session-manager-plugin does) and the agent (what amazon-ssm-agent does).
//
// # Layers
//
// Each layer talks to the one below through a small interface and is
// tested over an in-memory version of it:
//
//	codec      Message.MarshalBinary / UnmarshalBinary: the binary frame
//	           (byte diagram in message.go)
//	session    Session: sequence numbers, acknowledgements, in-order
//	           delivery, retransmission, publication pause, reconnection;
//	           over a Transport, offering a MessageStream
//	handshake  ClientHandshake / AgentHandshake: session type and KMS
//	           encryption, over a MessageStream
//	transport  WebsocketTransport: the data-channel websocket
//	adapters   Conn (the data stream as a net.Conn) and the smux
//	           multiplexer used for port forwarding (NewMuxClient)
//
// # Protocol flow
//
//	client                         service (gateway)                    agent
//	  │ StartSession (HTTPS API) ──► SessionId, StreamUrl, TokenValue
//	  │                                  │ ◄── control channel (websocket) ──┤
//	  │                                  │ interactive_shell (session start) ►│
//	  │                                  │ ◄── POST data-channel, websocket ─┤
//	  ├── websocket + text OpenDataChannelInput{TokenValue} ──►│
//	  │                                  │ ◄── agent_session_state ──────────┤
//	  │ ◄── output_stream_data HandshakeRequest (seq 0, SYN) ───┤
//	  ├── input_stream_data HandshakeResponse (seq 0) ────────►│
//	  │ ◄── EncChallengeRequest / ──► EncChallengeResponse (KMS only)
//	  │ ◄── HandshakeComplete ─────────────────────────────────┤
//	  ├── input_stream_data Output … ──► / ◄── output_stream_data Output …
//	  │   every stream message is acknowledged (acknowledge, seq 0, flags 3)
//	  │   and retransmitted until it is; sequence numbers run per direction
//	  │ ◄── channel_closed {Output} ──── (after agent_task_complete) ┤
//
// The agent's agent_session_state is for the service, which keeps it.
// The gateway relays frames unchanged, so sequence numbers, acks and
// retransmissions are end to end. A dropped websocket is replaced (the
// client through ResumeSession) and unacknowledged messages are sent
// again. Plain shell sessions skip the handshake; Port sessions are never
// encrypted. Where this package's behaviour rests on a fact learnt from the
// public sources of the agent and the plugin, the doc comment of the code
// says so.
package protocol
