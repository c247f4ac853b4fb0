package agent

import (
	"errors"
	"os"
	"os/user"
	"strings"
	"testing"

	"github.com/ssmssh/ssmssh/protocol"
)

func asRoot() int    { return 0 }
func asNonRoot() int { return 4242 }

func fakeUser(uid, gid string) func(string) (*user.User, error) {
	return func(name string) (*user.User, error) {
		return &user.User{Uid: uid, Gid: gid, Username: name, HomeDir: "/home/" + name}, nil
	}
}

func noUser(name string) (*user.User, error) { return nil, user.UnknownUserError(name) }

func TestRunAsResolve(t *testing.T) {
	cur, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		runAs   RunAs
		wantErr string
		wantID  *Identity
	}{
		{"disabled", RunAs{User: "alice", geteuid: asRoot, LookupUser: noUser}, "", nil},
		{"elevated", RunAs{Enabled: true, Elevated: true, geteuid: asNonRoot}, "", nil},
		{"no user", RunAs{Enabled: true, User: "  ", geteuid: asRoot}, "please set the RunAs default user", nil},
		{"not root", RunAs{Enabled: true, User: "alice", geteuid: asNonRoot, LookupUser: fakeUser("1001", "1001")}, "the agent must run as root to use RunAs", nil},
		{"not root, own user", RunAs{Enabled: true, User: cur.Username, geteuid: asNonRoot}, "", nil},
		{"missing", RunAs{Enabled: true, User: "ghost", geteuid: asRoot, LookupUser: noUser}, "failed to start pty since RunAs user ghost does not exist", nil},
		{"missing, system lookup", RunAs{Enabled: true, User: "ssmtest-no-such-user", geteuid: asRoot}, "failed to start pty since RunAs user ssmtest-no-such-user does not exist", nil},
		{"root", RunAs{Enabled: true, User: "root", geteuid: asRoot, LookupUser: fakeUser("0", "0")}, "invalid uid and gid", nil},
		{"gid 0", RunAs{Enabled: true, User: "op", geteuid: asRoot, LookupUser: fakeUser("1001", "0")}, "invalid uid and gid", nil},
		{"ok", RunAs{Enabled: true, User: "ssmtest-fake", geteuid: asRoot, LookupUser: fakeUser("1001", "1002")}, "",
			&Identity{Username: "ssmtest-fake", UID: 1001, GID: 1002, Groups: []uint32{1002}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := tc.runAs.Resolve()
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("Resolve = %+v, %v; want error %q", id, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (id == nil) != (tc.wantID == nil) || id != nil &&
				(id.Username != tc.wantID.Username || id.UID != tc.wantID.UID || id.GID != tc.wantID.GID || len(id.Groups) != len(tc.wantID.Groups) || id.Groups[0] != tc.wantID.Groups[0]) {
				t.Errorf("Resolve = %+v, want %+v", id, tc.wantID)
			}
		})
	}
	var unknown *UnknownUserError
	if _, err := (RunAs{Enabled: true, User: "ghost", geteuid: asRoot, LookupUser: noUser}).Resolve(); !errors.As(err, &unknown) || unknown.User != "ghost" {
		t.Errorf("missing user error %v is not an *UnknownUserError", err)
	}
}

func TestRunAsUser(t *testing.T) {
	if got := RunAsUser("ssm-user", "alice"); got != "alice" {
		t.Errorf("principal's user: got %q", got)
	}
	if got := RunAsUser("ssm-user", " "); got != "ssm-user" {
		t.Errorf("document default: got %q", got)
	}
}

// TestRunAsFailures: sessions whose RunAs user is unusable fail with the
// agent's texts; command sessions also send them as StdErr.
func TestRunAsFailures(t *testing.T) {
	missing := RunAs{Enabled: true, User: "ghost", geteuid: asRoot, LookupUser: noUser}
	const wantMissing = "Unable to start command: failed to start pty since RunAs user ghost does not exist\n"

	agentEnd, _ := newStreamPair(t)
	if res, err := RunShell(t.Context(), agentEnd, ShellOptions{RunAs: missing}); err != nil || res != failed(wantMissing) {
		t.Errorf("RunShell = %+v, %v; want %q", res, err, wantMissing)
	}
	agentEnd, _ = newStreamPair(t)
	blank := RunAs{Enabled: true, geteuid: asRoot}
	const wantBlank = "Unable to start command: please set the RunAs default user\n"
	if res, err := RunInteractiveCommand(t.Context(), agentEnd, "true", ShellOptions{RunAs: blank}); err != nil || res != failed(wantBlank) {
		t.Errorf("RunInteractiveCommand = %+v, %v; want %q", res, err, wantBlank)
	}

	agentEnd, clientEnd := newStreamPair(t)
	out := collect(clientEnd)
	if res, err := RunCommand(t.Context(), agentEnd, "true", ShellOptions{RunAs: missing}); err != nil || res != failed(wantMissing) {
		t.Errorf("RunCommand = %+v, %v; want %q", res, err, wantMissing)
	}
	out.finish(t, clientEnd)
	if got := out.get(protocol.PayloadStdErr); got != wantMissing {
		t.Errorf("RunCommand sent stderr %q, want %q", got, wantMissing)
	}
}

// TestRunAsSwitchesUser runs a terminal command as nobody; it needs root.
func TestRunAsSwitchesUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("switching users needs root")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	agentEnd, clientEnd := newStreamPair(t)
	out := collect(clientEnd)
	res, err := RunInteractiveCommand(t.Context(), agentEnd, `echo "uid=$(id -u) home=$HOME"`, ShellOptions{
		RunAs: RunAs{Enabled: true, User: "nobody"},
	})
	if err != nil || !res.OK() {
		t.Fatalf("RunInteractiveCommand = %+v, %v", res, err)
	}
	out.finish(t, clientEnd)
	if want := "uid=" + nobody.Uid + " home=/home/nobody"; !strings.Contains(out.get(protocol.PayloadOutput), want) {
		t.Errorf("output %q, want %q", out.get(protocol.PayloadOutput), want)
	}
}
