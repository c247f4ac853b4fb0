package protocol

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/xtaci/smux"
)

// muxPair starts the client's and the agent's smux sessions over a pair of
// Conns on an in-memory stream.
func muxPair(t testing.TB, agentVersion, clientVersion string) (client, server *smux.Session, cms, ams *memStream) {
	cms, ams = newMemPair(nil, 64)
	cconn := NewConn(cms, ConnConfig{OnFlag: MuxFlagHandler(nil), CloseFlag: FlagTerminateSession})
	aconn := NewConn(ams, ConnConfig{Agent: true})
	var err error
	if client, err = NewMuxClient(cconn, agentVersion); err != nil {
		t.Fatal(err)
	}
	if server, err = NewMuxServer(aconn, clientVersion); err != nil {
		t.Fatal(err)
	}
	return client, server, cms, ams
}

// TestMuxParallelStreams carries 20 streams at once: the agent's end echoes
// each, prefixed by the digest it computed; the client checks both.
func TestMuxParallelStreams(t *testing.T) {
	client, server, cms, ams := muxPair(t, testAgentVersion, ClientVersion)
	t.Cleanup(func() { client.Close(); server.Close(); cms.Close(); ams.Close() })

	var swg sync.WaitGroup
	swg.Add(1)
	go func() {
		defer swg.Done()
		for {
			st, err := server.AcceptStream()
			if err != nil {
				return
			}
			swg.Add(1)
			go func() {
				defer swg.Done()
				defer st.Close()
				var n uint32
				if err := binary.Read(st, binary.BigEndian, &n); err != nil {
					t.Errorf("server: read length: %v", err)
					return
				}
				data := make([]byte, n)
				if _, err := io.ReadFull(st, data); err != nil {
					t.Errorf("server: read data: %v", err)
					return
				}
				sum := sha256.Sum256(data)
				st.Write(sum[:])
				st.Write(data)
			}()
		}
	}()

	// A failed dial on the instance for some other stream does not end
	// the session.
	ams.Send(PayloadFlag, MarshalFlag(FlagConnectToPortError))

	const streams = 20
	var wg sync.WaitGroup
	for i := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := client.OpenStream()
			if err != nil {
				t.Errorf("stream %d: open: %v", i, err)
				return
			}
			defer st.Close()
			data := make([]byte, 32<<10+i*1000)
			rand.Read(data)
			want := sha256.Sum256(data)
			go func() {
				binary.Write(st, binary.BigEndian, uint32(len(data)))
				st.Write(data)
			}()
			var got [sha256.Size]byte
			if _, err := io.ReadFull(st, got[:]); err != nil || got != want {
				t.Errorf("stream %d: server digest mismatch (%v)", i, err)
				return
			}
			echo := make([]byte, len(data))
			if _, err := io.ReadFull(st, echo); err != nil || sha256.Sum256(echo) != want {
				t.Errorf("stream %d: echo mismatch (%v)", i, err)
			}
		}()
	}
	wg.Wait()
	if n := client.NumStreams(); n > streams {
		t.Errorf("%d streams open", n)
	}
	client.Close()
	server.Close()
	swg.Wait()

	// smux frames are cut into Output payloads of at most 1024 bytes.
	for _, ms := range []*memStream{cms, ams} {
		for _, p := range ms.sentPayloads(PayloadOutput) {
			if len(p) > DefaultMaxChunk {
				t.Fatalf("a %d-byte Output payload", len(p))
			}
		}
	}
}

// TestMuxKeepalive: keepalive frames flow only when the version rules
// leave keepalive on.
func TestMuxKeepalive(t *testing.T) {
	for _, tc := range []struct {
		agentVersion, clientVersion string
		keepalive                   bool
	}{
		{testAgentVersion, ClientVersion, false},
		{"3.1.1511.0", "1.2.331.0", true}, // old agent and old client
	} {
		synctest.Test(t, func(t *testing.T) {
			client, server, cms, ams := muxPair(t, tc.agentVersion, tc.clientVersion)
			defer func() { client.Close(); server.Close(); cms.Close(); ams.Close() }()
			time.Sleep(35 * time.Second)
			synctest.Wait()
			sent := len(cms.sentPayloads(PayloadOutput)) + len(ams.sentPayloads(PayloadOutput))
			if (sent > 0) != tc.keepalive || client.IsClosed() || server.IsClosed() {
				t.Errorf("versions %s/%s: %d payloads while idle, sessions closed %v/%v; want keepalive %v",
					tc.agentVersion, tc.clientVersion, sent, client.IsClosed(), server.IsClosed(), tc.keepalive)
			}
		})
	}
}
