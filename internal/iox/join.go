package iox

import (
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// closeWriter is implemented by ends that can half-close (TCP, SSH
// channels, stdio).
type closeWriter interface{ CloseWrite() error }

// Join copies a→b and b→a until both directions end, then closes both.
// When one direction reaches EOF it is passed on as a half-close
// (CloseWrite) where the receiving end supports it; where it does not, or
// on an error, both ends are closed at once. With drain > 0 the other
// direction gets at most drain to finish after the first has ended (a
// ProxyCommand whose ssh has gone); with drain 0 it may run on (a
// forwarded TCP connection after a half-close). Join returns the first
// error that is not an orderly end of stream.
func Join(a, b io.ReadWriteCloser, drain time.Duration) error {
	var once sync.Once
	closeBoth := func() {
		once.Do(func() {
			a.Close()
			b.Close()
		})
	}
	errc := make(chan error, 2)
	cp := func(dst, src io.ReadWriteCloser) {
		_, err := io.Copy(dst, src)
		if cw, ok := dst.(closeWriter); ok && err == nil && cw.CloseWrite() == nil {
			errc <- nil
			return
		}
		closeBoth()
		errc <- err
	}
	go cp(b, a)
	go cp(a, b)
	err1 := <-errc
	var err2 error
	if drain > 0 {
		t := time.NewTimer(drain)
		select {
		case err2 = <-errc:
		case <-t.C:
			closeBoth()
			err2 = <-errc
		}
		t.Stop()
	} else {
		err2 = <-errc
	}
	closeBoth()
	for _, err := range []error{err1, err2} {
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.ErrClosedPipe) {
			return err
		}
	}
	return nil
}

// ShellQuote quotes s for a POSIX shell (and for ssh_config's
// ProxyCommand, which runs through one), leaving plain words alone.
func ShellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '-' || r == '_' || r == '+' || r == ':' || r == ',' ||
			r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
