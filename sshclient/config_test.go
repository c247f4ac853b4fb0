package sshclient

import (
	"crypto/sha1"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// testOptions are Options that read nothing outside dir: home is dir,
// no system file, fixed local user, host and uid.
func testOptions(dir string, settings ...string) Options {
	uid := 1234
	return Options{
		Settings:         settings,
		Home:             dir,
		SystemConfigFile: "none",
		LocalUser:        "me",
		LocalHost:        "laptop.example.org",
		UID:              &uid,
		LookupEnv: func(k string) (string, bool) {
			if k == "KEYS" {
				return "/keys", true
			}
			return "", false
		},
	}
}

// writeConfig writes ~/.ssh/config (and any extra files, by path relative
// to dir) under dir.
func writeConfig(t *testing.T, dir, config string, extra map[string]string) {
	t.Helper()
	files := map[string]string{".ssh/config": config}
	for k, v := range extra {
		files[k] = v
	}
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestResolvePrecedence(t *testing.T) {
	const config = `
Host web
    HostName %h.example.com
    User fileuser
    Port 2200
    IdentityFile ~/.ssh/web_key
    StrictHostKeyChecking accept-new

Host web other
    User seconduser
    IdentityFile ~/.ssh/second_key
    ServerAliveInterval 1m30s
    Port 2300

Host *
    User staruser
    IdentityFile ~/.ssh/star_key
    ConnectTimeout 7
    ServerAliveCountMax 5
`
	tests := []struct {
		name     string
		dest     string
		settings []string
		user     string
		host     string
		port     int
		ids      []string
	}{
		{
			name: "file, first block wins",
			dest: "web", user: "fileuser", host: "web.example.com", port: 2200,
			ids: []string{"~/.ssh/web_key", "~/.ssh/second_key", "~/.ssh/star_key"},
		},
		{
			name: "user@ beats the file",
			dest: "alice@web", user: "alice", host: "web.example.com", port: 2200,
			ids: []string{"~/.ssh/web_key", "~/.ssh/second_key", "~/.ssh/star_key"},
		},
		{
			name: "-l beats user@", dest: "alice@web",
			settings: []string{must(FlagSetting("-l", "bob"))},
			user:     "bob", host: "web.example.com", port: 2200,
			ids: []string{"~/.ssh/web_key", "~/.ssh/second_key", "~/.ssh/star_key"},
		},
		{
			name: "-o User beats user@", dest: "alice@web",
			settings: []string{"User=olivia"},
			user:     "olivia", host: "web.example.com", port: 2200,
			ids: []string{"~/.ssh/web_key", "~/.ssh/second_key", "~/.ssh/star_key"},
		},
		{
			name: "-p then -o Port: first wins", dest: "web",
			settings: []string{must(FlagSetting("p", "1")), "Port=2"},
			user:     "fileuser", host: "web.example.com", port: 1,
			ids: []string{"~/.ssh/web_key", "~/.ssh/second_key", "~/.ssh/star_key"},
		},
		{
			name: "-o Port then -p: first wins", dest: "web",
			settings: []string{"Port 2", must(FlagSetting("p", "1"))},
			user:     "fileuser", host: "web.example.com", port: 2,
			ids: []string{"~/.ssh/web_key", "~/.ssh/second_key", "~/.ssh/star_key"},
		},
		{
			name: "-i and -o IdentityFile come first, in order", dest: "web",
			settings: []string{must(FlagSetting("i", "/cli one")), "IdentityFile=/cli2", must(FlagSetting("i", "/cli3"))},
			user:     "fileuser", host: "web.example.com", port: 2200,
			ids: []string{"/cli one", "/cli2", "/cli3", "~/.ssh/web_key", "~/.ssh/second_key", "~/.ssh/star_key"},
		},
		{
			name: "ssh:// URI", dest: "ssh://u@other:2022",
			user: "u", host: "other", port: 2022,
			ids: []string{"~/.ssh/second_key", "~/.ssh/star_key"},
		},
		{
			name: "Host patterns match the alias as typed", dest: "WEB",
			user: "staruser", host: "web", port: 22,
			ids: []string{"~/.ssh/star_key"},
		},
		{
			name: "HostName on the command line", dest: "web",
			settings: []string{"HostName=%h.cli"},
			user:     "fileuser", host: "web.cli", port: 2200,
			ids: []string{"~/.ssh/web_key", "~/.ssh/second_key", "~/.ssh/star_key"},
		},
	}
	dir := t.TempDir()
	writeConfig(t, dir, config, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Resolve(tt.dest, testOptions(dir, tt.settings...))
			if err != nil {
				t.Fatal(err)
			}
			if c.User != tt.user || c.HostName != tt.host || c.Port != tt.port {
				t.Errorf("user, host, port = %q, %q, %d; want %q, %q, %d", c.User, c.HostName, c.Port, tt.user, tt.host, tt.port)
			}
			var want []string
			for _, id := range tt.ids {
				want = append(want, strings.Replace(id, "~", dir, 1))
			}
			if !slices.Equal(c.IdentityFiles, want) {
				t.Errorf("IdentityFiles = %q, want %q", c.IdentityFiles, want)
			}
		})
	}

	c, err := Resolve("web", testOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	if c.StrictHostKeyChecking != StrictAcceptNew || c.ServerAliveInterval != 90*time.Second ||
		c.ServerAliveCountMax != 5 || c.ConnectTimeout != 7*time.Second {
		t.Errorf("StrictHostKeyChecking %v, ServerAlive %v/%d, ConnectTimeout %v",
			c.StrictHostKeyChecking, c.ServerAliveInterval, c.ServerAliveCountMax, c.ConnectTimeout)
	}
	if v, ok := c.Lookup("user"); !ok || v != "fileuser" {
		t.Errorf("Lookup(user) = %q, %v", v, ok)
	}
}

func sha1hex(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func must(s string, err error) string {
	if err != nil {
		panic(err)
	}
	return s
}

func TestResolveDefaults(t *testing.T) {
	dir := t.TempDir()
	c, err := Resolve("i-0123456789abcdef0", testOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	if c.User != "" {
		t.Errorf("User = %q, want empty (the program picks the default user)", c.User)
	}
	if c.HostName != "i-0123456789abcdef0" || c.Port != 22 {
		t.Errorf("HostName %q Port %d", c.HostName, c.Port)
	}
	wantIDs := []string{dir + "/.ssh/id_rsa", dir + "/.ssh/id_ecdsa", dir + "/.ssh/id_ed25519"}
	if !c.DefaultIdentities || !slices.Equal(c.IdentityFiles, wantIDs) {
		t.Errorf("IdentityFiles = %q (default %v), want %q", c.IdentityFiles, c.DefaultIdentities, wantIDs)
	}
	wantKH := []string{dir + "/.ssh/known_hosts", dir + "/.ssh/known_hosts2"}
	if !slices.Equal(c.UserKnownHostsFiles, wantKH) {
		t.Errorf("UserKnownHostsFiles = %q, want %q", c.UserKnownHostsFiles, wantKH)
	}
	if c.StrictHostKeyChecking != StrictAsk || c.ServerAliveInterval != 0 || c.ServerAliveCountMax != 3 ||
		c.ConnectTimeout != 0 || c.EscapeChar != '~' || c.HostKeyAlias != "" || c.UsesSSMProxy ||
		!slices.Equal(c.PreferredAuthentications, defaultAuthMethods) || c.NumberOfPasswordPrompts != 3 {
		t.Errorf("defaults: %+v", c)
	}
	if c.HostKeyName() != "i-0123456789abcdef0" {
		t.Errorf("HostKeyName = %q", c.HostKeyName())
	}
}

func TestResolveTokens(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, `
Host web
    HostName %h.example.com
    User rem
    Port 2200
    HostKeyAlias ka
    IdentityFile /x/%C/%d/%u/%l/%L/%n/%k/%h/%p/%r/%i/%%
    IdentityFile ~/y
    IdentityFile ${KEYS}/z
    UserKnownHostsFile ~/kh/%h "%d/with space" /kh/%k
    IdentityAgent ~/agent.%r
`, nil)
	c, err := Resolve("web", testOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	// %C is SHA-1 of %l%h%p%r, verified against OpenSSH 9.2's ssh -v.
	wantIDs := []string{
		"/x/" + sha1hex("laptop.example.orgweb.example.com2200rem") + "/" + dir + "/me/laptop.example.org/laptop/web/ka/web.example.com/2200/rem/1234/%",
		dir + "/y",
		"/keys/z",
	}
	if !slices.Equal(c.IdentityFiles, wantIDs) {
		t.Errorf("IdentityFiles =\n%q\nwant\n%q", c.IdentityFiles, wantIDs)
	}
	wantKH := []string{dir + "/kh/web.example.com", dir + "/with space", "/kh/ka"}
	if !slices.Equal(c.UserKnownHostsFiles, wantKH) {
		t.Errorf("UserKnownHostsFiles = %q, want %q", c.UserKnownHostsFiles, wantKH)
	}
	if c.IdentityAgent != dir+"/agent.rem" {
		t.Errorf("IdentityAgent = %q", c.IdentityAgent)
	}
	if c.HostKeyName() != "ka" {
		t.Errorf("HostKeyName = %q, want the alias", c.HostKeyName())
	}

	// %r before a user is known is the local user, as in OpenSSH; SetUser
	// expands it again.
	writeConfig(t, dir, "IdentityFile ~/.ssh/id_%r\nProxyCommand ssmproxy %r@%h %p\n", nil)
	c, err = Resolve("i-0abc", testOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	if c.IdentityFiles[0] != dir+"/.ssh/id_me" || c.SSMProxy.Target != "me@i-0abc" {
		t.Errorf("before SetUser: %q, %q", c.IdentityFiles, c.SSMProxy.Target)
	}
	if err := c.SetUser("ec2-user"); err != nil {
		t.Fatal(err)
	}
	if c.User != "ec2-user" || c.IdentityFiles[0] != dir+"/.ssh/id_ec2-user" || c.SSMProxy.Target != "ec2-user@i-0abc" {
		t.Errorf("after SetUser: %q, %q, %q", c.User, c.IdentityFiles, c.SSMProxy.Target)
	}
}

func TestResolveMatchAndInclude(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, `
Include conf.d/*.conf
Include `+dir+`/absolute.conf

Match originalhost db* !user root
    User dbuser

Match host *.internal
    Port 2022

Match exec "true"
    Port 1

# Match host sees HostName once it is set: this does not match web.
Match localuser me host web
    ConnectTimeout 11

Match localuser me originalhost web
    ConnectTimeout 12

Match final
    ServerAliveInterval 42

Host *
    Include late.conf
`, map[string]string{
		".ssh/conf.d/10-web.conf": "Host web\n  HostName web.internal\n",
		".ssh/conf.d/20-db.conf":  "Host db1\n  HostName db1.internal\n  User should-lose-to-match\n",
		".ssh/conf.d/ignored.txt": "Host *\n  User never\n",
		"absolute.conf":           "Host web\n  IdentityFile /abs\n",
		".ssh/late.conf":          "IdentityFile /late\nHost nomatch\n  IdentityFile /nomatch\n",
	})
	tests := []struct {
		dest  string
		user  string
		port  int
		ids   []string
		ctime time.Duration
	}{
		{dest: "web", user: "", port: 2022, ids: []string{"/abs", "/late"}, ctime: 12 * time.Second},
		// Included files come first, so db1's User wins over the Match below.
		{dest: "db1", user: "should-lose-to-match", port: 2022, ids: []string{"/late"}},
		{dest: "db2", user: "dbuser", port: 22, ids: []string{"/late"}},
		{dest: "root@db2", user: "root", port: 22, ids: []string{"/late"}},
	}
	for _, tt := range tests {
		t.Run(tt.dest, func(t *testing.T) {
			c, err := Resolve(tt.dest, testOptions(dir))
			if err != nil {
				t.Fatal(err)
			}
			if c.User != tt.user || c.Port != tt.port || !slices.Equal(c.IdentityFiles, tt.ids) || c.ConnectTimeout != tt.ctime {
				t.Errorf("user %q port %d ids %q ConnectTimeout %v; want %q %d %q %v",
					c.User, c.Port, c.IdentityFiles, c.ConnectTimeout, tt.user, tt.port, tt.ids, tt.ctime)
			}
			if c.ServerAliveInterval != 42*time.Second {
				t.Errorf("Match final not applied: ServerAliveInterval %v", c.ServerAliveInterval)
			}
		})
	}
}

func TestResolveForwardsAndOptions(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, `
Host web
    LocalForward 8080 localhost:80
    LocalForward 127.0.0.2:8081 [::1]:81
    StrictHostKeyChecking off
    PasswordAuthentication no
    EscapeChar ^]
    RequestTTY force
    HashKnownHosts yes
    GlobalKnownHostsFile none
`, nil)
	c, err := Resolve("web", testOptions(dir, must(FlagSetting("L", ":9000:db:5432")), "StrictHostKeyChecking=yes"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Forward{
		{BindAddress: "*", BindPort: 9000, Host: "db", HostPort: 5432},
		{BindPort: 8080, Host: "localhost", HostPort: 80},
		{BindAddress: "127.0.0.2", BindPort: 8081, Host: "::1", HostPort: 81},
	}
	if !slices.Equal(c.LocalForwards, want) {
		t.Errorf("LocalForwards = %+v, want %+v", c.LocalForwards, want)
	}
	if c.StrictHostKeyChecking != StrictYes {
		t.Errorf("StrictHostKeyChecking = %v, want the command line's yes", c.StrictHostKeyChecking)
	}
	if !slices.Equal(c.PreferredAuthentications, []string{"publickey", "keyboard-interactive"}) {
		t.Errorf("PreferredAuthentications = %q", c.PreferredAuthentications)
	}
	if c.EscapeChar != 0x1d || c.RequestTTY != "force" || !c.HashKnownHosts || c.GlobalKnownHostsFiles != nil {
		t.Errorf("EscapeChar %q RequestTTY %q HashKnownHosts %v Global %q", c.EscapeChar, c.RequestTTY, c.HashKnownHosts, c.GlobalKnownHostsFiles)
	}
}

func TestResolveErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		config   string
		settings []string
		want     string
	}{
		{config: "Host *\n  IdentitiesOnly maybe\n", want: ".ssh/config:2: IdentitiesOnly: bad yes/no value"},
		{config: "Port 99999\n", want: ".ssh/config:1: Port: bad port"},
		{config: "StrictHostKeyChecking sometimes\n", want: "StrictHostKeyChecking: bad value"},
		{config: "ProxyJump bastion\n", want: "ProxyJump: not supported"},
		{config: "IdentityFile ~/%z\n", want: "unknown token %z"},
		{config: "IdentityFile ${NOPE}/k\n", want: "NOPE is not set"},
		{config: "Match color blue\n", want: "unsupported criterion"},
		{config: "LocalForward 8080\n", want: "LocalForward"},
		{config: "ServerAliveInterval 5x\n", want: "bad time"},
		{config: "", settings: []string{"User"}, want: "has no value"},
	}
	for _, tt := range tests {
		writeConfig(t, dir, tt.config, nil)
		_, err := Resolve("h", testOptions(dir, tt.settings...))
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "sshclient: ") {
			t.Errorf("config %q: error %v, want one containing %q", tt.config, err, tt.want)
		}
	}
	// -F names a file that must exist; ConfigFile "none" reads nothing.
	opts := testOptions(dir)
	opts.ConfigFile = filepath.Join(dir, "missing")
	if _, err := Resolve("h", opts); err == nil {
		t.Error("missing -F file: no error")
	}
	writeConfig(t, dir, "Port 99999\n", nil)
	opts.ConfigFile = "none"
	if _, err := Resolve("h", opts); err != nil {
		t.Errorf("-F none read the user's file: %v", err)
	}
}

func TestFlagSetting(t *testing.T) {
	if _, err := FlagSetting("-x", "v"); err == nil {
		t.Error("-x accepted")
	}
	if _, err := FlagSetting("-L", "nonsense"); err == nil {
		t.Error("bad -L accepted")
	}
	if s := must(FlagSetting("-i", `/a b/"q"`)); s != `IdentityFile="/a b/\"q\""` {
		t.Errorf("-i quoting: %s", s)
	}
}

func TestSplitArgs(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{`a b  c`, []string{"a", "b", "c"}},
		{`"a b" 'c d' e\ f`, []string{"a b", "c d", "e f"}},
		{`"a \"q\" b"`, []string{`a "q" b`}},
		{`a #comment`, []string{"a"}},
		{`a#b`, []string{"a#b"}},
		{``, nil},
	}
	for _, tt := range tests {
		got, err := splitArgs(tt.in)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("splitArgs(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := splitArgs(`"open`); err == nil {
		t.Error("unterminated quote accepted")
	}
}

func TestParseTime(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"10": 10 * time.Second, "1m30s": 90 * time.Second, "2H": 2 * time.Hour, "1w1d": 8 * 24 * time.Hour, "0": 0,
	} {
		if got, err := parseTime(in); err != nil || got != want {
			t.Errorf("parseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "m", "5x", "-1", "1.5"} {
		if _, err := parseTime(in); err == nil {
			t.Errorf("parseTime(%q) accepted", in)
		}
	}
}
