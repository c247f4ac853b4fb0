package agent

import (
	"strings"
	"testing"

	"github.com/ssmssh/ssmssh/protocol"
)

const outErrExit = `sh -c 'echo out; echo err >&2; exit 3'`

func TestCommandCombinedOutput(t *testing.T) {
	agentEnd, clientEnd := newStreamPair(t)
	out := collect(clientEnd)
	res, err := RunCommand(t.Context(), agentEnd, outErrExit, ShellOptions{Logf: t.Logf})
	want := succeeded()
	want.Terminating = true
	if err != nil || res != want {
		t.Errorf("RunCommand = %+v, %v; want %+v", res, err, want)
	}
	out.finish(t, clientEnd)
	for _, m := range out.all() {
		if m.pt != protocol.PayloadOutput {
			t.Errorf("agent sent a %v payload %q; want only Output", m.pt, m.p)
		}
	}
	if got := out.get(protocol.PayloadOutput); got != "out\nerr\n" {
		t.Errorf("output %q, want stdout and stderr together", got)
	}
}

func TestCommandSeparateStreams(t *testing.T) {
	agentEnd, clientEnd := newStreamPair(t)
	out := collect(clientEnd)
	res, err := RunCommand(t.Context(), agentEnd, outErrExit, ShellOptions{
		SeparateOutputStream: true,
		StdOutPrefix:         "OUT:",
		StdErrPrefix:         "ERR:",
	})
	if err != nil || !res.OK() || !res.Terminating {
		t.Errorf("RunCommand = %+v, %v", res, err)
	}
	out.finish(t, clientEnd)
	if got := out.get(protocol.PayloadOutput); got != "OUT:out\n" {
		t.Errorf("stdout %q", got)
	}
	if got := out.get(protocol.PayloadStdErr); got != "ERR:err\n" {
		t.Errorf("stderr %q", got)
	}
	all := out.all()
	if last := all[len(all)-1]; last.pt != protocol.PayloadExitCode || string(last.p) != "EXIT_CODE: 3" {
		t.Errorf("last payload %v %q, want ExitCode \"EXIT_CODE: 3\"", last.pt, last.p)
	}
}

func TestCommandLargeOutput(t *testing.T) {
	agentEnd, clientEnd := newStreamPair(t)
	out := collect(clientEnd)
	// 200000 bytes of a three-byte character: reads end mid-character.
	command := `sh -c 'i=0; while [ $i -lt 1000 ]; do printf "` + strings.Repeat("€", 68) + `"; i=$((i+1)); done'`
	res, err := RunCommand(t.Context(), agentEnd, command, ShellOptions{})
	if err != nil || !res.OK() {
		t.Fatalf("RunCommand = %+v, %v", res, err)
	}
	out.finish(t, clientEnd)
	got := out.get(protocol.PayloadOutput)
	if want := strings.Repeat("€", 68000); got != want {
		t.Errorf("got %d bytes, want %d", len(got), len(want))
	}
	for _, m := range out.all() {
		if !strings.HasPrefix(string(m.p), "€") || len(m.p)%3 != 0 || len(m.p) > chunkSize+2 {
			t.Fatalf("payload of %d bytes not cut on characters or too long", len(m.p))
		}
	}
}

// TestCommandCtrlC: Ctrl-C from the client interrupts the command.
func TestCommandCtrlC(t *testing.T) {
	agentEnd, clientEnd := newStreamPair(t)
	out := collect(clientEnd)
	wait := runAsync(t, func() (Result, error) {
		return RunCommand(t.Context(), agentEnd, "sleep 60", ShellOptions{SeparateOutputStream: true})
	})
	typeIn(t, clientEnd, "x\x03")
	res, err := wait(testTimeout)
	if err != nil || !res.OK() {
		t.Errorf("RunCommand = %+v, %v", res, err)
	}
	out.finish(t, clientEnd)
	if got := out.get(protocol.PayloadExitCode); got != "EXIT_CODE: -1" {
		t.Errorf("exit code payload %q, want EXIT_CODE: -1 (killed by a signal)", got)
	}
}

func TestCommandStartFailure(t *testing.T) {
	for _, separate := range []bool{false, true} {
		agentEnd, clientEnd := newStreamPair(t)
		out := collect(clientEnd)
		res, err := RunCommand(t.Context(), agentEnd, "/nonexistent/prog arg", ShellOptions{SeparateOutputStream: separate})
		if err != nil || res.OK() || !res.Terminating ||
			!strings.HasPrefix(res.Output, "Error occurred starting the command: ") || !strings.HasSuffix(res.Output, "\n") {
			t.Errorf("separate=%v: RunCommand = %+v, %v", separate, res, err)
		}
		out.finish(t, clientEnd)
		if got := out.get(protocol.PayloadStdErr); !strings.Contains(got, "/nonexistent/prog") {
			t.Errorf("separate=%v: stderr %q, want the start error", separate, got)
		}
		wantExit := ""
		if separate {
			wantExit = "EXIT_CODE: 1"
		}
		if got := out.get(protocol.PayloadExitCode); got != wantExit {
			t.Errorf("separate=%v: exit code %q, want %q", separate, got, wantExit)
		}
	}
}

func TestCommandInvalidInput(t *testing.T) {
	for _, tc := range []struct {
		command string
		opts    ShellOptions
		want    string
	}{
		{" ", ShellOptions{}, "Commands cannot be empty for session type NonInteractiveCommands"},
		{"true", ShellOptions{SeparateOutputStream: true, StdOutPrefix: "bad prefix"}, "invalid stdoutSeparatorPrefix bad prefix"},
		{"true", ShellOptions{SeparateOutputStream: true, StdErrPrefix: strings.Repeat("a", 31)}, "invalid stderrSeparatorPrefix " + strings.Repeat("a", 31)},
		{"echo 'unclosed", ShellOptions{}, "Unable to start command: Failed to parse commands input: EOF found when expecting closing quote\n\n"},
	} {
		agentEnd, _ := newStreamPair(t)
		res, err := RunCommand(t.Context(), agentEnd, tc.command, tc.opts)
		if err != nil || res != failed(tc.want) {
			t.Errorf("RunCommand(%q) = %+v, %v; want output %q", tc.command, res, err, tc.want)
		}
	}
}

func TestSplitWords(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"ls -l /tmp", []string{"ls", "-l", "/tmp"}},
		{"  a\tb\nc  ", []string{"a", "b", "c"}},
		{`sh -c 'echo $HOME; exit 3'`, []string{"sh", "-c", "echo $HOME; exit 3"}},
		{`echo "a \"b\" c" d\ e`, []string{"echo", `a "b" c`, "d e"}},
		{`x'y'"z"`, []string{"xyz"}},
		{`echo '' ""`, []string{"echo", "", ""}},
		{"echo a # comment\nls", []string{"echo", "a", "ls"}},
		{"echo a#b", []string{"echo", "a#b"}},
	} {
		got, err := splitWords(tc.in)
		if err != nil || strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
			t.Errorf("splitWords(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{`echo "a`, "echo 'a", `echo a\`, "# only a comment"} {
		if got, err := splitWords(in); err == nil {
			t.Errorf("splitWords(%q) = %q, want an error", in, got)
		}
	}
}
