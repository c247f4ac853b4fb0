package sshclient

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestResolveMatchesOpenSSH resolves the same configurations with ssh -G
// (and ssh -v for the expanded identity files, which -G prints
// unexpanded) and compares. Only the temporary config file is read by
// either; identity files point into a directory that does not exist.
func TestResolveMatchesOpenSSH(t *testing.T) {
	sshPath, err := exec.LookPath("ssh")
	if err != nil {
		t.Skip("OpenSSH client not installed")
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	const config = `
Host web
    HostName %h.example.com
    User fileuser
    Port 2200
    IdentityFile /nonexistent-ssmssh/%C/%d/%u/%l/%L/%n/%k/%h/%p/%r/%i/%%
    IdentityFile ~/nonexistent-ssmssh/key
    StrictHostKeyChecking accept-new
    LocalForward 8080 localhost:80
    UserKnownHostsFile ~/nonexistent-ssmssh/kh/%h /nonexistent-ssmssh/%r
    HostKeyAlias alias-%h

Host web other
    User seconduser
    IdentityFile /nonexistent-ssmssh/second
    ServerAliveInterval 1m30s
    Port 2300

Match originalhost db* !user root
    User dbuser
    IdentityFile /nonexistent-ssmssh/db

Host *
    User staruser
    IdentityFile /nonexistent-ssmssh/star
    ConnectTimeout 7
    ServerAliveCountMax 5
    StrictHostKeyChecking off
    IdentitiesOnly yes
`
	dir := t.TempDir()
	file := filepath.Join(dir, "config")
	// ssh drops -i files that do not exist (Resolve leaves that to Dial,
	// which warns), so the -i file exists, empty.
	cliKey := filepath.Join(dir, "cli_key")
	if err := os.WriteFile(cliKey, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		dest  string
		flags []string // ssh flags, each "-x value"
	}{
		{dest: "web"},
		{dest: "alice@web", flags: []string{"-l bob"}},
		{dest: "alice@web", flags: []string{"-o User=olivia", "-l bob"}},
		{dest: "web", flags: []string{"-p 1", "-o Port=2"}},
		{dest: "web", flags: []string{"-o Port=2", "-p 1"}},
		{dest: "web", flags: []string{"-i " + cliKey, "-o StrictHostKeyChecking=yes", "-L 9:a:10"}},
		{dest: "ssh://u@other:2022"},
		{dest: "db1"},
		{dest: "root@db1"},
		{dest: "WEB"},
	}
	for _, tc := range cases {
		t.Run(tc.dest+" "+strings.Join(tc.flags, " "), func(t *testing.T) {
			var args, settings []string
			for _, f := range tc.flags {
				flag, value, _ := strings.Cut(f, " ")
				args = append(args, flag, value)
				settings = append(settings, must(FlagSetting(flag, value)))
			}
			uid := os.Getuid()
			c, err := Resolve(tc.dest, Options{
				ConfigFile: file, Settings: settings, Home: u.HomeDir,
				LocalUser: u.Username, LocalHost: host, UID: &uid,
			})
			if err != nil {
				t.Fatal(err)
			}
			g := sshG(t, sshPath, file, args, tc.dest)
			user := c.User
			if user == "" {
				user = u.Username
			}
			check := func(key, got string) {
				t.Helper()
				if want := g[key]; len(want) != 1 || want[0] != got {
					t.Errorf("%s: ssh -G says %q, Resolve %q", key, want, got)
				}
			}
			check("user", user)
			check("hostname", c.HostName)
			check("port", strconv.Itoa(c.Port))
			check("stricthostkeychecking", map[StrictHostKeyChecking]string{
				StrictAsk: "ask", StrictYes: "true", StrictNo: "false", StrictAcceptNew: "accept-new",
			}[c.StrictHostKeyChecking])
			check("serveraliveinterval", strconv.Itoa(int(c.ServerAliveInterval/time.Second)))
			check("serveralivecountmax", strconv.Itoa(c.ServerAliveCountMax))
			ct := "none"
			if c.ConnectTimeout > 0 {
				ct = strconv.Itoa(int(c.ConnectTimeout / time.Second))
			}
			check("connecttimeout", ct)
			check("identitiesonly", map[bool]string{true: "yes", false: "no"}[c.IdentitiesOnly])
			check("userknownhostsfile", strings.Join(c.UserKnownHostsFiles, " "))
			if c.HostKeyAlias != "" {
				check("hostkeyalias", c.HostKeyAlias)
			}
			var fwds []string
			for _, f := range c.LocalForwards {
				fwds = append(fwds, strconv.Itoa(f.BindPort)+" ["+f.Host+"]:"+strconv.Itoa(f.HostPort))
			}
			if !slices.Equal(g["localforward"], fwds) {
				t.Errorf("localforward: ssh -G says %q, Resolve %q", g["localforward"], fwds)
			}
			// The expanded identity files, from ssh -v.
			if ids := sshIdentityFiles(t, sshPath, file, args, tc.dest); !slices.Equal(ids, c.IdentityFiles) {
				t.Errorf("identity files: ssh -v says\n%q\nResolve\n%q", ids, c.IdentityFiles)
			}
		})
	}
}

// sshG runs ssh -G and returns its settings.
func sshG(t *testing.T, sshPath, file string, args []string, dest string) map[string][]string {
	t.Helper()
	cmd := exec.Command(sshPath, append(append([]string{"-G", "-F", file}, args...), dest)...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ssh -G: %v", err)
	}
	m := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		m[k] = append(m[k], v)
	}
	return m
}

// sshIdentityFiles runs ssh -v with a ProxyCommand that fails at once and
// collects the identity files it would try.
func sshIdentityFiles(t *testing.T, sshPath, file string, args []string, dest string) []string {
	t.Helper()
	all := append(append([]string{"-v", "-F", file, "-o", "ProxyCommand=false", "-o", "BatchMode=yes"}, args...), dest)
	cmd := exec.Command(sshPath, all...)
	cmd.Stdin = nil
	out, _ := cmd.CombinedOutput()
	var ids []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, "debug1: identity file ")
		if !ok {
			continue
		}
		i := strings.LastIndex(rest, " type ")
		if i < 0 || strings.HasSuffix(rest[:i], "-cert") {
			continue
		}
		ids = append(ids, rest[:i])
	}
	return ids
}
