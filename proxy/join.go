package proxy

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// DrainTimeout is how long Join lets one direction finish after the other
// has ended, before closing both ends.
const DrainTimeout = 5 * time.Second

// closeWriter is implemented by ends that can half-close (TCP, the SSM
// data stream, stdio).
type closeWriter interface{ CloseWrite() error }

// Join copies a→b and b→a until both directions end. When one direction
// reaches EOF, the other end's write side is half-closed (or, if it cannot
// half-close, left alone) and the opposite direction gets DrainTimeout to
// finish before both ends are closed. It returns the first error that is
// not an orderly end of stream.
func Join(a, b io.ReadWriteCloser) error {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		once     sync.Once
		done     = make(chan struct{}, 2)
	)
	closeBoth := func() {
		once.Do(func() {
			a.Close()
			b.Close()
		})
	}
	copyDir := func(dst, src io.ReadWriteCloser) {
		defer wg.Done()
		_, err := io.Copy(dst, src)
		if err != nil && !isClosed(err) {
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
			closeBoth()
		} else if cw, ok := dst.(closeWriter); ok {
			_ = cw.CloseWrite()
		}
		done <- struct{}{}
	}
	wg.Add(2)
	go copyDir(b, a)
	go copyDir(a, b)
	<-done
	t := time.NewTimer(DrainTimeout)
	select {
	case <-done:
	case <-t.C:
	}
	t.Stop()
	closeBoth()
	wg.Wait()
	return firstErr
}

func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrClosedPipe)
}
