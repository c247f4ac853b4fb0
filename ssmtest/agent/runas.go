package agent

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"syscall"
)

// RunAs says which OS user a shell or command session runs as.
//
// The real agent, running as root, starts sessions without RunAs as
// ssm-user, creating that user when it is missing. The stand-in never
// creates users: without RunAs a session runs as the emulator's own user.
type RunAs struct {
	// Enabled is the session document's runAsEnabled input.
	Enabled bool
	// User is the RunAs user; see RunAsUser for how the agent picks it.
	User string
	// Elevated is the runAsElevated shell property of command documents:
	// the command runs as the agent's own user with HOME=/root.
	Elevated bool
	// LookupUser resolves User (default os/user.Lookup). Any error counts
	// as "does not exist", as with the agent's `id <user>` check.
	LookupUser func(name string) (*user.User, error)

	// geteuid reports the agent's effective user id (default os.Geteuid);
	// tests set it to play a non-root agent.
	geteuid func() int
}

// RunAsUser picks a session's RunAs user as the agent does: the user named
// by the session principal (the SSMSessionRunAs tag, sent as the session
// start's RunAsUser) wins over the document's runAsDefaultUser.
func RunAsUser(documentDefault, principal string) string {
	if strings.TrimSpace(principal) != "" {
		return principal
	}
	return documentDefault
}

// RunAs failures, with the agent's texts. A runner reports them through
// StartFailure, as "Unable to start command: <text>\n".
var (
	// ErrRunAsNoUser: RunAs is enabled but no user is set.
	ErrRunAsNoUser = errors.New("please set the RunAs default user")
	// ErrRunAsNotRoot: RunAs needs an agent running as root. The stand-in
	// also accepts, without root, a RunAs user that is its own user.
	ErrRunAsNotRoot = errors.New("the agent must run as root to use RunAs")
	// ErrRunAsInvalidIDs: the RunAs user is root or in group 0; the agent
	// only switches to users with non-zero uid and gid.
	ErrRunAsInvalidIDs = errors.New("invalid uid and gid")
)

// UnknownUserError is the RunAs failure for a user that does not exist.
type UnknownUserError struct {
	User string
	Err  error // the lookup's error
}

func (e *UnknownUserError) Error() string {
	return fmt.Sprintf("failed to start pty since RunAs user %s does not exist", e.User)
}

func (e *UnknownUserError) Unwrap() error { return e.Err }

// StartFailure returns the failure output the agent reports when a shell or
// command cannot be started: "Unable to start command: <err>\n" (the
// trailing newline is the agent's).
func StartFailure(err error) string { return startFailure(err.Error()) }

func startFailure(reason string) string { return "Unable to start command: " + reason + "\n" }

// Identity is the OS user a session's process is switched to.
type Identity struct {
	Username string
	UID, GID uint32
	Groups   []uint32
}

// Resolve applies the agent's RunAs checks, in its order: a user must be
// set, the agent must be root (see ErrRunAsNotRoot), the user must exist
// and must not have uid or gid 0. It returns nil without an error when
// the process keeps the agent's own user.
func (r RunAs) Resolve() (*Identity, error) {
	if r.Elevated || !r.Enabled {
		return nil, nil
	}
	if strings.TrimSpace(r.User) == "" {
		return nil, ErrRunAsNoUser
	}
	geteuid := r.geteuid
	if geteuid == nil {
		geteuid = os.Geteuid
	}
	if geteuid() != 0 {
		if cur, err := user.Current(); err == nil && cur.Username == r.User {
			return nil, nil
		}
		return nil, ErrRunAsNotRoot
	}
	lookup := r.LookupUser
	if lookup == nil {
		lookup = user.Lookup
	}
	u, err := lookup(r.User)
	if err != nil {
		return nil, &UnknownUserError{User: r.User, Err: err}
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil || uid == 0 || gid == 0 {
		return nil, ErrRunAsInvalidIDs
	}
	id := &Identity{Username: r.User, UID: uint32(uid), GID: uint32(gid)}
	if gids, err := u.GroupIds(); err == nil {
		for _, g := range gids {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil {
				id.Groups = append(id.Groups, uint32(n))
			}
		}
	}
	if len(id.Groups) == 0 {
		id.Groups = []uint32{id.GID}
	}
	return id, nil
}

// prepare sets cmd's environment and, for a switched identity, its
// credentials, as the agent does for every shell and command: TERM is
// xterm-256color, LANG defaults to C.UTF-8, and HOME is /home/<user> for
// a RunAs user and /root for elevated commands.
func (r RunAs) prepare(cmd *exec.Cmd, id *Identity) {
	cmd.Env = append(os.Environ(), "TERM=xterm-256color")
	if os.Getenv("LANG") == "" {
		cmd.Env = append(cmd.Env, "LANG=C.UTF-8")
	}
	switch {
	case r.Elevated:
		cmd.Env = append(cmd.Env, "HOME=/root")
	case id != nil:
		cmd.Env = append(cmd.Env, "HOME=/home/"+id.Username)
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Credential: &syscall.Credential{Uid: id.UID, Gid: id.GID, Groups: id.Groups},
		}
	}
}
