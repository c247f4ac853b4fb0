package protocol_test

import (
	"testing"

	"github.com/ssmssh/ssmssh/protocol"
	"github.com/ssmssh/ssmssh/protocol/prototest"
)

// benchmarkSession measures a one-way transfer from a client session to an
// agent session over an in-memory pipe: sequencing, encoding, digests,
// acknowledgements and in-order delivery, without the network.
func benchmarkSession(b *testing.B, size int) {
	a, c := prototest.Pipe()
	snd := protocol.NewSession(a, protocol.SessionConfig{Role: protocol.RoleClient})
	rcv := protocol.NewSession(c, protocol.SessionConfig{Role: protocol.RoleAgent})
	defer snd.Close()
	defer rcv.Close()
	payload := make([]byte, size)
	done := make(chan error, 1)
	go func() {
		for range b.N {
			if _, _, err := rcv.Recv(); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := snd.Send(protocol.PayloadOutput, payload); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func BenchmarkSession1KiB(b *testing.B)  { benchmarkSession(b, 1<<10) }
func BenchmarkSession16KiB(b *testing.B) { benchmarkSession(b, 16<<10) }
