package e2etest

import (
	"os"
	"testing"
	"time"

	"github.com/ssmssh/ssmssh/ssmtest"
)

// BenchPace is one agent pace a throughput benchmark runs at.
type BenchPace struct {
	// Name ends the sub-benchmark's name: "paced" or "unpaced".
	Name string
	// Pace is set on the emulator (Server.SetAgentPace) for the run.
	Pace ssmtest.Pace
}

// BenchPaces are the paces of every benchmark through the emulator, in
// the order they run and print: paced like the real agent (about 1 MB/s
// per session, what users will see), then unpaced (what our code can do
// when the agent is not the limit).
var BenchPaces = []BenchPace{
	{"paced", ssmtest.RealAgentPace},
	{"unpaced", ssmtest.Pace{}},
}

// Bench sizes by default: the paced runs move little, since at the real
// agent's pace 256 MiB would take about five minutes a run.
const (
	benchPacedSize          = 16 << 20
	benchPacedSizeOneShot   = 1 << 20
	benchUnpacedSize        = 256 << 20
	benchUnpacedSizeOneShot = 8 << 20
)

// BenchSizes are the transfer sizes of a throughput benchmark's paced and
// unpaced runs: both the environment variable env when it is set (bytes,
// or a number with a KiB, MiB or GiB suffix; a paced run of 256 MiB takes
// minutes), else 16 MiB paced and 256 MiB unpaced, or 1 MiB and 8 MiB when
// -benchtime is 1x (a smoke run, as make test does), which oneShot
// reports.
func BenchSizes(tb testing.TB, env string) (paced, unpaced int64, oneShot bool) {
	tb.Helper()
	size, oneShot := BenchSize(tb, env)
	if os.Getenv(env) != "" {
		return size, size, oneShot
	}
	if oneShot {
		return benchPacedSizeOneShot, benchUnpacedSizeOneShot, true
	}
	return benchPacedSize, benchUnpacedSize, false
}

// Size is the size of pace's runs among paced and unpaced.
func (p BenchPace) Size(paced, unpaced int64) int64 {
	if p.Pace.Paced() {
		return paced
	}
	return unpaced
}

// Run runs f as the sub-benchmark name/<pace> with the emulator at that
// pace, and puts the emulator back to unpaced afterwards.
func (p BenchPace) Run(b *testing.B, e *Env, name string, f func(b *testing.B)) {
	b.Helper()
	b.Run(name+"/"+p.Name, func(b *testing.B) {
		e.Server.SetAgentPace(p.Pace)
		defer e.Server.SetAgentPace(ssmtest.Pace{})
		f(b)
	})
}

// CopyTimeout bounds one benchmark copy of size bytes: DefaultTimeout, and
// as long again as size takes at 128 KiB/s (a quarter of one paced
// session's pace), so that a paced copy of 256 MiB over one session has
// room and a stuck one still ends.
func CopyTimeout(size int64) time.Duration {
	return DefaultTimeout + time.Duration(size/(128<<10))*time.Second
}
