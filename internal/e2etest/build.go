package e2etest

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// SSMProxyPackage is the import path of the command Binary builds.
const SSMProxyPackage = "github.com/ssmssh/ssmssh/cmd/ssmproxy"

var build struct {
	mu    sync.Mutex
	dir   string
	paths map[string]string // command name → built binary
}

// Binary returns the path of an ssmproxy built from this module; see
// CommandBinary.
func Binary(tb testing.TB) string {
	tb.Helper()
	return CommandBinary(tb, "ssmproxy")
}

// CommandBinary returns the path of the command ./cmd/name of this module,
// building it on first use (once per test binary) into a temporary
// directory that Main removes. It is built without the race detector, even
// under -race (the emulator in the test binary is checked, and a
// race-built command makes the transfers several times slower); set
// E2ETEST_PROXY_RACE=1 to build it with -race when the test binary has it.
func CommandBinary(tb testing.TB, name string) string {
	tb.Helper()
	build.mu.Lock()
	defer build.mu.Unlock()
	if p, ok := build.paths[name]; ok {
		return p
	}
	if build.dir == "" {
		dir, err := os.MkdirTemp("", "e2etest-cmd-")
		if err != nil {
			tb.Fatalf("e2etest: %v", err)
		}
		build.dir, build.paths = dir, map[string]string{}
	}
	pkg := "github.com/ssmssh/ssmssh/cmd/" + name
	path := filepath.Join(build.dir, name)
	if err := Build(pkg, path, RaceEnabled && os.Getenv("E2ETEST_PROXY_RACE") == "1"); err != nil {
		tb.Fatalf("e2etest: %v", err)
	}
	if err := touchSources(pkg); err != nil {
		tb.Fatalf("e2etest: %v", err)
	}
	build.paths[name] = path
	return path
}

// Build runs go build for pkg into out, with -race when race is set.
func Build(pkg, out string, race bool) error {
	args := []string{"build", "-o", out}
	if race {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, pkg)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// touchSources reads the main package's Go files. go test caches a
// result by the test binary and the files the test opened; the binary
// holds the libraries ssmproxy is built from when the test imports them
// (test packages using Binary should import the package they test), but
// not the main package, whose files this makes part of the cache key.
func touchSources(pkg string) error {
	out, err := exec.Command("go", "list", "-f", "{{.Dir}}", pkg).Output()
	if err != nil {
		return fmt.Errorf("go list %s: %w", pkg, err)
	}
	files, err := filepath.Glob(filepath.Join(strings.TrimSpace(string(out)), "*.go"))
	if err != nil {
		return err
	}
	for _, f := range files {
		if _, err := os.ReadFile(f); err != nil {
			return err
		}
	}
	return nil
}

// rusageEnv names the variable that turns the test binary into the
// wrapper that runs ssmproxy and reports its resource usage.
const rusageEnv = "E2ETEST_RUSAGE_DIR"

// Main runs the tests and removes the binaries CommandBinary built. When
// the test binary was started as the rusage wrapper of an Env with RusageDir, it
// runs that instead and never returns.
func Main(m *testing.M) {
	if dir := os.Getenv(rusageEnv); dir != "" && len(os.Args) > 1 {
		os.Exit(wrap(dir, os.Args[1:]))
	}
	code := m.Run()
	build.mu.Lock()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	build.mu.Unlock()
	os.Exit(code)
}

// Usage is the resource usage of one process, as wait4 reported it.
type Usage struct {
	// MaxRSSKiB is the peak resident set size (VmHWM) in KiB.
	MaxRSSKiB int64 `json:"max_rss_kib"`
	// User and System are the CPU time spent.
	User   time.Duration `json:"user_ns"`
	System time.Duration `json:"system_ns"`
	// ExitCode is the process's exit status (-1 when a signal ended it).
	ExitCode int `json:"exit_code"`
}

// CPU is User + System.
func (u Usage) CPU() time.Duration { return u.User + u.System }

// wrap runs args with this process's stdio (the descriptors themselves,
// nothing copied), passes on the signals a ProxyCommand gets, and writes
// the child's Usage to dir/<pid>.json.
func wrap(dir string, args []string) int {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	var env []string
	for _, kv := range os.Environ() {
		if len(kv) <= len(rusageEnv) || kv[:len(rusageEnv)+1] != rusageEnv+"=" {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "e2etest: wrapper: %v\n", err)
		return 127
	}
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	_ = cmd.Wait()
	signal.Stop(sigs)
	st := cmd.ProcessState
	u := Usage{ExitCode: st.ExitCode(), User: st.UserTime(), System: st.SystemTime()}
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
		u.MaxRSSKiB = ru.Maxrss // KiB on Linux
	}
	b, _ := json.Marshal(u)
	name := filepath.Join(dir, strconv.Itoa(cmd.Process.Pid)+".json")
	if err := os.WriteFile(name, b, 0o600); err != nil {
		fmt.Fprintf(os.Stderr, "e2etest: wrapper: %v\n", err)
	}
	if u.ExitCode < 0 {
		return 128 + 1
	}
	return u.ExitCode
}

// ReadUsage returns the Usage records the wrapper wrote into dir and
// removes them.
func ReadUsage(dir string) ([]Usage, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []Usage
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return nil, err
		}
		var u Usage
		if err := json.Unmarshal(b, &u); err != nil {
			return nil, fmt.Errorf("e2etest: %s: %w", n, err)
		}
		out = append(out, u)
		os.Remove(n)
	}
	return out, nil
}
