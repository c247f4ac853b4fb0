package ssmclient_test

import (
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/ssmssh/ssmssh/internal/e2etest"
	"github.com/ssmssh/ssmssh/ssmclient"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// chunkBenchSizeEnv is the size of each BenchmarkUploadMessageSize upload
// (see e2etest.BenchSize: 256 MiB, or 1 MiB at -benchtime 1x, too little
// for the rate limit to act).
const chunkBenchSizeEnv = "SSMCLIENT_CHUNK_BENCH_SIZE"

// BenchmarkUploadMessageSize measures what the client's message size
// (StartInput.MaxChunk: the largest payload of one input_stream_data)
// does to one session's upload: bytes written to a Port session through
// the emulator into a loopback sink that counts them, with the agent
// paced like the real one (first; the agent paces only what it sends, so
// uploads pay only for their messages, each framed, relayed and
// acknowledged on its own), then unpaced, each with the gateway pausing
// a client over the service's reported ~1000 messages a second
// (ssmtest.ServicePublicationRate: at 1024 bytes a message, about 1 MB/s)
// and without that limit. The real service's largest message is not
// documented; the plugin sends 1024 bytes, which is what the tools keep
// (see PROTOCOL.md section 11).
func BenchmarkUploadMessageSize(b *testing.B) {
	size, oneShot := e2etest.BenchSize(b, chunkBenchSizeEnv)
	if oneShot && os.Getenv(chunkBenchSizeEnv) == "" {
		size = 1 << 20
	}
	e := e2etest.Start(b, e2etest.Options{})
	client := e.Client(b)
	got := make(chan int64, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				n, _ := io.CopyN(io.Discard, c, size)
				got <- n
			}()
		}
	}()
	if err := e.Server.Fleet().SetPort(e.Instance, "9000", ln.Addr().String()); err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 256<<10)
	type row struct {
		chunk, limit int
		pace         string
		mibps        float64
	}
	var rows []row
	for _, p := range []struct {
		name string
		pace ssmtest.Pace
	}{{"paced", ssmtest.RealAgentPace}, {"unpaced", ssmtest.Pace{}}} {
		for _, limit := range []int{ssmtest.ServicePublicationRate, 0} {
			for _, chunk := range []int{1024, 4096, 16384, 32768} {
				b.Run(fmt.Sprintf("chunk=%d/ratelimit=%d/%s", chunk, limit, p.name), func(b *testing.B) {
					e.Server.SetAgentPace(p.pace)
					defer e.Server.SetAgentPace(ssmtest.Pace{})
					e.Server.Faults().Set(func(f *ssmtest.FaultSet) { f.PublicationRateLimit = limit })
					defer e.Server.Faults().Set(func(f *ssmtest.FaultSet) { f.PublicationRateLimit = 0 })
					b.SetBytes(size)
					var moving time.Duration
					for b.Loop() {
						s, err := client.StartSession(b.Context(), ssmclient.StartInput{
							Target: e.Instance, DocumentName: ssmclient.DocumentSSH,
							Parameters: map[string][]string{"portNumber": {"9000"}}, MaxChunk: chunk,
						})
						if err != nil {
							b.Fatal(err)
						}
						t0 := time.Now()
						for left := size; left > 0; {
							n, err := s.Write(data[:min(left, int64(len(data)))])
							if err != nil {
								b.Fatal(err)
							}
							left -= int64(n)
						}
						select {
						case n := <-got:
							if n != size {
								b.Fatalf("the sink got %d bytes, want %d", n, size)
							}
						case <-time.After(5 * time.Minute):
							b.Fatal("the sink got nothing in 5 minutes")
						}
						moving += time.Since(t0)
						s.Close()
					}
					mibps := float64(size) * float64(b.N) / (1 << 20) / moving.Seconds()
					b.ReportMetric(mibps, "MiB/s")
					rows = append(rows, row{chunk, limit, p.name, mibps})
				})
			}
		}
	}
	var sb strings.Builder
	w := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "message\tagent\tservice rate limit\tMiB/s\t")
	for _, r := range rows {
		limit := "none"
		if r.limit > 0 {
			limit = fmt.Sprintf("%d/s", r.limit)
		}
		fmt.Fprintf(w, "%d bytes\t%s\t%s\t%.1f\t\n", r.chunk, r.pace, limit, r.mibps)
	}
	w.Flush()
	fmt.Printf("\none session's upload by the client's message size, %d MiB into a sink through the emulator:\n%s\n", size>>20, sb.String())
}
