package protocol

// Transport carries whole binary frames between two ends of a data
// channel: a websocket in production, an in-memory pipe in tests. Frames
// handed to WriteFrame may be reused by the caller once it returns; frames
// returned by ReadFrame belong to the caller. ReadFrame and WriteFrame may
// be called concurrently with each other (one reader, one writer), and
// Close unblocks both.
type Transport interface {
	ReadFrame() ([]byte, error)
	WriteFrame(frame []byte) error
	Close() error
}

// FramesWriter is implemented by a Transport that can send several frames
// at once: WriteFrames writes them in order, as that many WriteFrame calls
// would, in fewer writes to the network. The session's writer uses it for
// each batch of acknowledgements and data it has ready.
type FramesWriter interface {
	WriteFrames(frames [][]byte) error
}

// MessageStream is what the reliable session offers the layers above it:
// an ordered, reliable, bidirectional sequence of typed stream payloads.
// Send copies payload before returning. Recv returns payloads in the
// peer's sending order, each exactly once.
type MessageStream interface {
	Send(pt PayloadType, payload []byte) error
	Recv() (PayloadType, []byte, error)
}
