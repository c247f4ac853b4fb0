package proxy

import (
	"io"
	"sync"
)

// Stdio joins a reader and a writer (a ProxyCommand's stdin and stdout)
// into one io.ReadWriteCloser, so that ProxyCommand mode and a local TCP
// listener share one code path. CloseWrite closes only the writer; Close
// closes both.
type Stdio struct {
	In  io.ReadCloser
	Out io.WriteCloser

	once sync.Once
}

func (s *Stdio) Read(p []byte) (int, error)  { return s.In.Read(p) }
func (s *Stdio) Write(p []byte) (int, error) { return s.Out.Write(p) }

// CloseWrite closes the output, telling the reader at the other end that
// no more data comes.
func (s *Stdio) CloseWrite() error { return s.Out.Close() }

// Close closes both halves.
func (s *Stdio) Close() error {
	var err error
	s.once.Do(func() {
		err = s.In.Close()
		if e := s.Out.Close(); err == nil {
			err = e
		}
	})
	return err
}
