package sftpshell

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// command is one of the shell's commands.
type command struct {
	name    string
	aliases []string
	flags   string // the flag letters it takes
	// min and max bound the number of arguments (max -1: any).
	min, max int
	usage    string
	help     string
	run      func(s *Shell, ctx context.Context, p *parsed) error
}

// commands are the shell's commands, in the order help lists them.
var commands []*command

func init() {
	commands = []*command{
		{name: "bye", aliases: []string{"exit", "quit"}, max: 0, help: "leave sftp", run: exit},
		{name: "cd", max: 1, usage: "[path]", help: "change the remote directory (to the login directory without path)", run: (*Shell).cmdCd},
		{name: "chmod", min: 2, max: 2, usage: "mode path", help: "change the permissions of remote files (mode in octal)", run: (*Shell).cmdChmod},
		{name: "get", flags: transferFlags, min: 1, max: 2, usage: "[-pR] remote [local]", help: "download files (-R: directories too, -p: keep modes and times)", run: (*Shell).cmdGet},
		{name: "help", aliases: []string{"?"}, max: 0, help: "show this help", run: (*Shell).cmdHelp},
		{name: "lcd", max: 1, usage: "[path]", help: "change the local directory (to the home directory without path)", run: (*Shell).cmdLcd},
		{name: "lls", flags: lsFlags, max: 1, usage: "[-1alrtSh] [path]", help: "list a local directory", run: (*Shell).cmdLls},
		{name: "lmkdir", min: 1, max: 1, usage: "path", help: "create a local directory", run: (*Shell).cmdLmkdir},
		{name: "lpwd", max: 0, help: "print the local working directory", run: (*Shell).cmdLpwd},
		{name: "ls", aliases: []string{"dir"}, flags: lsFlags, max: 1, usage: "[-1alrtSh] [path]", help: "list a remote directory or the files a pattern matches", run: (*Shell).cmdLs},
		{name: "mkdir", flags: "p", min: 1, max: 1, usage: "[-p] path", help: "create a remote directory (-p: and its parents)", run: (*Shell).cmdMkdir},
		{name: "put", flags: transferFlags, min: 1, max: 2, usage: "[-pR] local [remote]", help: "upload files (-R: directories too, -p: keep modes and times)", run: (*Shell).cmdPut},
		{name: "pwd", max: 0, help: "print the remote working directory", run: (*Shell).cmdPwd},
		{name: "rename", flags: "l", min: 2, max: 2, usage: "oldpath newpath", help: "rename a remote file, replacing newpath if it exists", run: (*Shell).cmdRename},
		{name: "rm", min: 1, max: 1, usage: "path", help: "remove remote files", run: (*Shell).cmdRm},
		{name: "rmdir", min: 1, max: 1, usage: "path", help: "remove an empty remote directory", run: (*Shell).cmdRmdir},
		{name: "version", max: 0, help: "show the SFTP protocol version", run: (*Shell).cmdVersion},
	}
}

// lookup finds a command by name or alias.
func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
		for _, a := range c.aliases {
			if a == name {
				return c
			}
		}
	}
	return nil
}

func exit(*Shell, context.Context, *parsed) error { return ErrExit }

func (s *Shell) cmdHelp(context.Context, *parsed) error {
	var b strings.Builder
	b.WriteString("Available commands:\n")
	for _, c := range commands {
		names := strings.Join(append([]string{c.name}, c.aliases...), ", ")
		syn := names
		if c.usage != "" {
			syn += " " + c.usage
		}
		fmt.Fprintf(&b, "  %-36s %s\n", syn, c.help)
	}
	b.WriteString("A line starting with '-' does not stop a batch when it fails; '#' starts a comment.\n")
	s.printf("%s", b.String())
	return nil
}

func (s *Shell) cmdVersion(context.Context, *parsed) error {
	s.printf("SFTP protocol version 3\n")
	return nil
}

func (s *Shell) cmdPwd(context.Context, *parsed) error {
	s.printf("Remote working directory: %s\n", s.cwd)
	return nil
}

func (s *Shell) cmdLpwd(context.Context, *parsed) error {
	s.printf("Local working directory: %s\n", s.lcwd)
	return nil
}

func (s *Shell) cmdCd(_ context.Context, p *parsed) error {
	if len(p.args) == 0 {
		s.cwd = s.home
		return nil
	}
	return s.chdir(p.args[0])
}

// chdir makes the directory word w names the remote working directory.
func (s *Shell) chdir(w string) error {
	dir := s.remotePath(w)
	real, err := s.Client.RealPath(dir)
	if err != nil {
		return remoteErr(dir, err)
	}
	fi, err := s.Client.Stat(real)
	if err != nil {
		return remoteErr(dir, err)
	}
	if !fi.IsDir() {
		return remoteErr(dir, syscall.ENOTDIR)
	}
	s.cwd = real
	return nil
}

func (s *Shell) cmdLcd(_ context.Context, p *parsed) error {
	dir := s.LocalHome
	if len(p.args) > 0 {
		dir = s.localPath(p.args[0])
	} else if dir == "" {
		return usagef("lcd path (no home directory)")
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return localErr(dir, err)
	}
	if !fi.IsDir() {
		return localErr(dir, syscall.ENOTDIR)
	}
	s.lcwd = dir
	return nil
}

func (s *Shell) cmdLmkdir(_ context.Context, p *parsed) error {
	dir := s.localPath(p.args[0])
	return localErr(dir, os.Mkdir(dir, 0o777))
}

func (s *Shell) cmdMkdir(_ context.Context, p *parsed) error {
	dir := s.remotePath(p.args[0])
	if p.has('p') {
		return remoteErr(dir, s.Client.MkdirAll(dir))
	}
	err := s.Client.Mkdir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
		// OpenSSH's server says only "failure" when dir exists.
		if _, serr := s.Client.Lstat(dir); serr == nil {
			err = fs.ErrExist
		}
	}
	return remoteErr(dir, err)
}

func (s *Shell) cmdRmdir(_ context.Context, p *parsed) error {
	dir := s.remotePath(p.args[0])
	// Some servers remove files too (pkg/sftp's does): look first.
	fi, err := s.Client.Lstat(dir)
	if err != nil {
		return remoteErr(dir, err)
	}
	if !fi.IsDir() {
		return remoteErr(dir, syscall.ENOTDIR)
	}
	err = s.Client.RemoveDirectory(dir)
	if err != nil && !errors.Is(err, fs.ErrPermission) {
		// OpenSSH's server says only "failure" for a full directory.
		if ents, rerr := s.Client.ReadDir(dir); rerr == nil && len(ents) > 0 {
			err = syscall.ENOTEMPTY
		}
	}
	return remoteErr(dir, err)
}

func (s *Shell) cmdRm(_ context.Context, p *parsed) error {
	paths, err := s.remoteGlob(p.args[0])
	if err != nil {
		return err
	}
	return eachPath(paths, func(f string) error {
		fi, err := s.Client.Lstat(f)
		if err != nil {
			return remoteErr(f, err)
		}
		if fi.IsDir() {
			return remoteErr(f, fmt.Errorf("is a directory (use rmdir)"))
		}
		s.note("Removing %s", f)
		return remoteErr(f, s.Client.Remove(f))
	})
}

func (s *Shell) cmdRename(_ context.Context, p *parsed) error {
	from, to := s.remotePath(p.args[0]), s.remotePath(p.args[1])
	var err error
	if _, ok := s.Client.HasExtension("posix-rename@openssh.com"); ok && !p.has('l') {
		err = s.Client.PosixRename(from, to)
	} else {
		err = s.Client.Rename(from, to)
	}
	if err == nil {
		return nil
	}
	if _, serr := s.Client.Lstat(from); serr != nil {
		return remoteErr(from, serr)
	}
	if _, serr := s.Client.Lstat(to); serr == nil && p.has('l') {
		return remoteErr(to, fs.ErrExist)
	}
	return remoteErr(to, err)
}

func (s *Shell) cmdChmod(_ context.Context, p *parsed) error {
	mode, err := strconv.ParseUint(literal(p.args[0]), 8, 32)
	if err != nil || mode > 0o7777 {
		return usagef("mode %q is not an octal mode such as 644", literal(p.args[0]))
	}
	paths, err := s.remoteGlob(p.args[1])
	if err != nil {
		return err
	}
	return eachPath(paths, func(f string) error {
		s.note("Changing mode on %s", f)
		return remoteErr(f, s.Client.Chmod(f, fileMode(uint32(mode))))
	})
}

// fileMode turns Unix permission bits (with setuid, setgid, sticky) into
// an fs.FileMode, which pkg/sftp turns back into them.
func fileMode(m uint32) fs.FileMode {
	fm := fs.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		fm |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		fm |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		fm |= fs.ModeSticky
	}
	return fm
}

// eachPath runs fn for every path, going on after failures, and returns
// the failures together.
func eachPath(paths []string, fn func(string) error) error {
	var errs []error
	for _, p := range paths {
		if err := fn(p); err != nil {
			errs = append(errs, err)
		}
	}
	return joinErrors(errs)
}

// multiError is several errors reported on one line.
type multiError []error

func (m multiError) Error() string {
	msgs := make([]string, len(m))
	for i, e := range m {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

func (m multiError) Unwrap() []error { return m }

func joinErrors(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return multiError(errs)
}
