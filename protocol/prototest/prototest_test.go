package prototest_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ssmssh/ssmssh/protocol"
	"github.com/ssmssh/ssmssh/protocol/prototest"
)

func TestPipe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := prototest.PipeSize(2)
		f := []byte("one")
		if err := a.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
		f[0] = 'X' // the pipe copied it
		if err := a.WriteFrame([]byte("two")); err != nil {
			t.Fatal(err)
		}
		blocked := make(chan error)
		go func() { blocked <- a.WriteFrame([]byte("three")) }()
		synctest.Wait()
		select {
		case err := <-blocked:
			t.Fatalf("write to a full pipe returned %v", err)
		default:
		}
		if got, err := b.ReadFrame(); err != nil || string(got) != "one" {
			t.Fatalf("ReadFrame = %q, %v", got, err)
		}
		if err := <-blocked; err != nil {
			t.Fatal(err)
		}

		// Closing a: b still reads what was buffered, then io.EOF.
		a.Close()
		for _, want := range []string{"two", "three"} {
			if got, err := b.ReadFrame(); err != nil || string(got) != want {
				t.Fatalf("ReadFrame = %q, %v, want %q", got, err, want)
			}
		}
		if _, err := b.ReadFrame(); err != io.EOF {
			t.Errorf("ReadFrame after the peer closed = %v, want io.EOF", err)
		}
		if err := b.WriteFrame([]byte("x")); !errors.Is(err, prototest.ErrPeerClosed) {
			t.Errorf("WriteFrame to a closed peer = %v", err)
		}
		if _, err := a.ReadFrame(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("ReadFrame after Close = %v, want net.ErrClosed", err)
		}
		if err := a.Close(); err != nil {
			t.Errorf("second Close = %v", err)
		}
	})
}

func TestPipeCloseUnblocksReader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := prototest.Pipe()
		errs := make(chan error, 2)
		go func() { _, err := a.ReadFrame(); errs <- err }()
		go func() { _, err := b.ReadFrame(); errs <- err }()
		synctest.Wait()
		b.Close()
		got := []error{<-errs, <-errs}
		if !slices.ContainsFunc(got, func(e error) bool { return errors.Is(e, net.ErrClosed) }) ||
			!slices.Contains(got, io.EOF) {
			t.Errorf("blocked reads returned %v, want net.ErrClosed and io.EOF", got)
		}
	})
}

// run writes n numbered frames through Faulty and returns what arrived.
func run(t *testing.T, f prototest.Faults, n int) ([]string, prototest.Counters) {
	t.Helper()
	var got []string
	var c prototest.Counters
	synctest.Test(t, func(t *testing.T) {
		a, b := prototest.PipeSize(4 * n)
		ft := prototest.Faulty(a, f)
		for i := range n {
			if err := ft.WriteFrame([]byte(fmt.Sprint(i))); err != nil {
				t.Fatalf("write %d: %v", i, err)
			}
		}
		time.Sleep(f.Latency + time.Millisecond)
		synctest.Wait()
		ft.Close()
		for {
			fr, err := b.ReadFrame()
			if err != nil {
				break
			}
			got = append(got, string(fr))
		}
		c = ft.Counters()
	})
	return got, c
}

func TestFaultyIsSeededAndCounts(t *testing.T) {
	f := prototest.Faults{Seed: 7, DropRate: 0.1, DuplicateRate: 0.1, ReorderRate: 0.1}
	got1, c1 := run(t, f, 1000)
	got2, c2 := run(t, f, 1000)
	if !slices.Equal(got1, got2) || c1 != c2 {
		t.Fatal("the same seed gave different faults")
	}
	f.Seed = 8
	if got3, _ := run(t, f, 1000); slices.Equal(got1, got3) {
		t.Error("a different seed gave the same faults")
	}
	if c1.Frames != 1000 || c1.Dropped < 50 || c1.Duplicated < 50 || c1.Reordered < 50 {
		t.Errorf("counters %+v, want about 100 of each", c1)
	}
	if want := 1000 - c1.Dropped + c1.Duplicated; int64(len(got1)) != want {
		t.Errorf("%d frames arrived, want %d", len(got1), want)
	}
	inversions := 0
	for i := 1; i < len(got1); i++ {
		var x, y int
		fmt.Sscan(got1[i-1], &x)
		fmt.Sscan(got1[i], &y)
		if y < x {
			inversions++
		}
	}
	if inversions == 0 {
		t.Error("nothing arrived out of order")
	}
}

func TestFaultyLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := prototest.Pipe()
		ft := prototest.Faulty(a, prototest.Faults{Latency: 30 * time.Millisecond})
		defer ft.Close()
		start := time.Now()
		for i := range 3 {
			if err := ft.WriteFrame([]byte{byte(i)}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Millisecond)
		}
		for i := range 3 {
			f, err := b.ReadFrame()
			if err != nil || f[0] != byte(i) {
				t.Fatalf("ReadFrame = %v, %v", f, err)
			}
			if d := time.Since(start); d != 30*time.Millisecond+time.Duration(i)*time.Millisecond {
				t.Errorf("frame %d arrived after %v: want pipelined 30 ms delays", i, d)
			}
		}
	})
}

func TestFaultyKillAfterBytes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := prototest.Pipe()
		ft := prototest.Faulty(a, prototest.Faults{KillAfterBytes: 10})
		var tr protocol.Transport = ft
		for _, f := range []string{"12345", "67890"} {
			if err := tr.WriteFrame([]byte(f)); err != nil {
				t.Fatal(err)
			}
		}
		if err := tr.WriteFrame([]byte("!")); !errors.Is(err, prototest.ErrKilled) {
			t.Fatalf("write past the limit = %v, want ErrKilled", err)
		}
		var got [][]byte
		for {
			f, err := b.ReadFrame()
			if err != nil {
				if err != io.EOF {
					t.Errorf("peer read after the kill = %v, want io.EOF", err)
				}
				break
			}
			got = append(got, f)
		}
		if !bytes.Equal(bytes.Join(got, nil), []byte("1234567890")) {
			t.Errorf("peer got %q", got)
		}
		if _, err := tr.ReadFrame(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("killed transport's ReadFrame = %v", err)
		}
		if c := ft.Counters(); !c.Killed || c.Bytes != 11 {
			t.Errorf("counters %+v", c)
		}
	})
}
