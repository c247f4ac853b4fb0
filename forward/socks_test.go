package forward

import (
	"bytes"
	"errors"
	"testing"
)

func TestSOCKSGreeting(t *testing.T) {
	for _, tc := range []struct {
		in      []byte
		ok      bool
		wantErr bool
	}{
		{[]byte{5, 1, 0}, true, false},
		{[]byte{5, 2, 2, 0}, true, false},
		{[]byte{5, 1, 2}, false, false}, // username/password only
		{[]byte{5, 0}, false, false},
		{[]byte{4, 1, 0}, false, true},
		{[]byte{5, 2, 0}, false, true}, // short
		{[]byte{5}, false, true},
	} {
		ok, err := readSOCKSGreeting(bytes.NewReader(tc.in))
		if ok != tc.ok || (err != nil) != tc.wantErr {
			t.Errorf("readSOCKSGreeting(%v) = %v, %v; want %v, error %v", tc.in, ok, err, tc.ok, tc.wantErr)
		}
		if err != nil && !errors.Is(err, errSOCKS) {
			t.Errorf("readSOCKSGreeting(%v): %v does not wrap errSOCKS", tc.in, err)
		}
	}
}

func TestSOCKSRequest(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		addr string
	}{
		{[]byte{5, 1, 0, 3, 11, 'd', 'b', '.', 'i', 'n', 't', 'e', 'r', 'n', 'a', 'l', 0x15, 0x38}, "db.internal:5432"},
		{[]byte{5, 1, 0, 1, 10, 0, 2, 7, 0, 80}, "10.0.2.7:80"},
		{[]byte{5, 1, 0, 4, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 1, 0xbb}, "[fd00::5]:443"},
	} {
		req, err := readSOCKSRequest(bytes.NewReader(tc.in))
		if err != nil || req.Address() != tc.addr {
			t.Errorf("readSOCKSRequest(%v) = %+v, %v; want %s", tc.in, req, err, tc.addr)
			continue
		}
		if got := req.marshal(); !bytes.Equal(got, tc.in) {
			t.Errorf("marshal(%+v) = %v, want %v", req, got, tc.in)
		}
	}
	for _, tc := range []struct {
		in   []byte
		code int // -1: malformed, no reply
	}{
		{[]byte{5, 2, 0, 1, 1, 2, 3, 4, 0, 80}, socksCommandNotSupported}, // BIND
		{[]byte{5, 3, 0, 1, 1, 2, 3, 4, 0, 80}, socksCommandNotSupported}, // UDP ASSOCIATE
		{[]byte{5, 1, 0, 9, 1, 2, 3, 4, 0, 80}, socksAtypNotSupported},
		{[]byte{5, 1, 0, 1, 1, 2, 3, 4, 0, 0}, socksNotAllowed},
		{[]byte{5, 1, 0, 3, 0, 0, 80}, socksGeneralFailure},
		{[]byte{5, 1, 0, 3, 3, 'a', ' ', 'b', 0, 80}, socksGeneralFailure},
		{[]byte{4, 1, 0, 1, 1, 2, 3, 4, 0, 80}, -1},
		{[]byte{5, 1, 0, 1, 1, 2}, -1},
		{[]byte{5, 1, 0, 3, 5, 'a'}, -1},
		{[]byte{5, 1, 0, 1, 1, 2, 3, 4, 0}, -1},
		{[]byte{5, 1}, -1},
	} {
		_, err := readSOCKSRequest(bytes.NewReader(tc.in))
		var se *socksError
		switch {
		case err == nil:
			t.Errorf("readSOCKSRequest(%v) succeeded", tc.in)
		case !errors.Is(err, errSOCKS):
			t.Errorf("readSOCKSRequest(%v): %v does not wrap errSOCKS", tc.in, err)
		case tc.code < 0 && errors.As(err, &se):
			t.Errorf("readSOCKSRequest(%v): %v has reply code %d, want none", tc.in, err, se.code)
		case tc.code >= 0 && (!errors.As(err, &se) || int(se.code) != tc.code):
			t.Errorf("readSOCKSRequest(%v): %v, want reply code %d", tc.in, err, tc.code)
		}
	}
}

// FuzzSOCKSRequest: the greeting and request readers never panic; an
// accepted request is CONNECT to a nonzero port and marshals back to the
// bytes read (with RSV zero).
func FuzzSOCKSRequest(f *testing.F) {
	f.Add([]byte{5, 1, 0, 3, 2, 'd', 'b', 0, 80})
	f.Add([]byte{5, 1, 0, 1, 10, 0, 0, 1, 1, 0})
	f.Add([]byte{5, 1, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 22})
	f.Add([]byte{5, 2, 0, 2})
	f.Fuzz(func(t *testing.T, in []byte) {
		_, _ = readSOCKSGreeting(bytes.NewReader(in))
		req, err := readSOCKSRequest(bytes.NewReader(in))
		if err != nil {
			if !errors.Is(err, errSOCKS) {
				t.Fatalf("error %v does not wrap errSOCKS", err)
			}
			return
		}
		if req.Cmd != socksCmdConnect || req.Port == 0 || req.Host == "" {
			t.Fatalf("accepted %+v", req)
		}
		want := bytes.Clone(in)
		want[2] = 0 // RSV: ignored, as most servers do
		if got := req.marshal(); !bytes.Equal(got, want[:len(got)]) {
			t.Fatalf("marshal(%+v) = %v, read from %v", req, got, in)
		}
	})
}
