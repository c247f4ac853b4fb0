// Package agent is the emulator's built-in stand-in for amazon-ssm-agent.
// It is used by the ssmtest emulator and the ssmlocal command to serve
// sessions without AWS; production client code never imports it.
//
// The package has two halves. The connection half keeps the agent's control
// channel and data channels open to a gateway and performs the handshake.
// The plugin half, documented here, runs one session once its data stream
// is established, as the agent's session plugins do:
//
//	RunPort               Port sessions (AWS-StartSSHSession, port forwarding)
//	  RunPortBasic          one TCP connection, bytes as Output payloads
//	  RunPortMux            smux over the data stream, one dial per stream
//	RunShell              Standard_Stream: a shell on a pseudo-terminal
//	RunInteractiveCommand InteractiveCommands: a command on a pseudo-terminal
//	RunCommand            NonInteractiveCommands: a command without a terminal
//
// Every runner works over a protocol.MessageStream that is already past the
// handshake and, for KMS sessions, already encrypts and decrypts, so
// runners see plain payloads. The agent's side of the stream sends Output
// (1), StdErr (11), ExitCode (12) and Flag (10) payloads and receives the
// client's Output, Size and Flag payloads.
//
// # What the runners mirror
//
// Behaviour follows agent 3.3's session plugins, checked against its public
// source:
//
//   - Output is read from the target in 1024-byte chunks and each read is
//     sent as one payload. Terminal and command output is additionally cut
//     on UTF-8 boundaries: an incomplete character at the end of a read is
//     held back and sent with the next one, so such payloads may exceed
//     1024 bytes by up to three.
//   - The real agent withholds acknowledgements of client input while its
//     target is not ready (TCP not yet dialled, pty not yet started), so the
//     client retransmits. A runner cannot withhold acks at this layer; it
//     makes the target ready before it first reads the stream, which gives
//     the client the same ordering guarantee.
//   - A runner returns the Result the agent would report in
//     agent_task_complete: the final status, the plugin's exit code and the
//     failure text the client eventually prints.
//
// Deliberate differences are documented where they occur: the stand-in
// never creates OS users (a session without RunAs runs as the emulator's own
// user, where the real agent would create and use ssm-user), and it skips
// the real agent's fixed sleeps (one second before the first terminal
// output, up to three seconds before reporting a command start failure).
//
// Runners return when the session ends. A goroutine of theirs may still be
// blocked in the stream's Recv at that point; it ends when the caller
// closes the stream, which the caller does after the runner returns.
package agent

import "github.com/ssmssh/ssmssh/protocol"

// chunkSize is the largest payload the agent sends (its
// StreamDataPayloadSize): the real agent reads its target this much at a
// time, each read one payload.
const chunkSize = 1024

// readSize is how much a basic Port session reads from its connection at
// a time, sent as payloads of chunkSize: the same wire when data is
// plentiful, with a 32nd of the system calls.
const readSize = 32 * chunkSize

// Final statuses of a session, as the agent reports them in
// agent_task_complete's FinalTaskStatus.
const (
	StatusSuccess = "Success"
	StatusFailed  = "Failed"
)

// Exit codes of the agent's session plugins (not of the commands they run).
const (
	ExitSuccess = 0
	ExitFailure = 1
)

// Result is how a session ended, as the agent reports it in
// agent_task_complete.
type Result struct {
	// Status is StatusSuccess or StatusFailed (FinalTaskStatus).
	Status string
	// ExitCode is the plugin's exit code: ExitSuccess or ExitFailure. It is
	// not the exit status of a shell or command; the agent reports those
	// only as ExitCode payloads of NonInteractiveCommands sessions with
	// separate output streams.
	ExitCode int
	// Output is the failure text (agent_task_complete's Output, shown to
	// the user through channel_closed); empty on success.
	Output string
	// Terminating reports that the real agent would now send an
	// agent_session_state message with SessionState "Terminating" on the
	// data channel: after a terminal session's program exited, and after
	// every command session.
	Terminating bool
}

// OK reports whether the session ended successfully.
func (r Result) OK() bool { return r.Status == StatusSuccess }

func succeeded() Result { return Result{Status: StatusSuccess, ExitCode: ExitSuccess} }

func failed(output string) Result {
	return Result{Status: StatusFailed, ExitCode: ExitFailure, Output: output}
}

// logger is a runner's Logf option; nil discards diagnostics.
type logger func(format string, args ...any)

func (l logger) printf(format string, args ...any) {
	if l != nil {
		l(format, args...)
	}
}

// sendFlag sends a Flag payload.
func sendFlag(ms protocol.MessageStream, f protocol.Flag) error {
	return ms.Send(protocol.PayloadFlag, protocol.MarshalFlag(f))
}
