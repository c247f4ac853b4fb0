// Package protocol speaks the AWS Systems Manager Session Manager
// data-channel protocol, for both ends of a session: the client (what the
// session-manager-plugin does) and the agent (what amazon-ssm-agent does).
//
// The package is layered; each layer talks to the one below through a small
// interface and is tested over an in-memory version of it:
//
//	codec      Message.MarshalBinary / UnmarshalBinary: the binary frame
//	session    Session: sequence numbers, acks, in-order delivery,
//	           retransmission, publication pause; over a Transport
//	handshake  ClientHandshake / AgentHandshake: session type and KMS
//	           encryption, over a MessageStream
//	transport  the data-channel websocket (gorilla/websocket)
//	adapters   Conn (the data stream as a net.Conn) and the smux
//	           multiplexer used for port forwarding
//
// See message.go for the frame's byte layout.
package protocol
