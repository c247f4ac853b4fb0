package sshclient

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// StrictHostKeyChecking is what to do with a host key that is not in
// known_hosts yet. The zero value is [StrictAsk], OpenSSH's default. A key
// that differs from a known one is refused whatever the policy.
type StrictHostKeyChecking int

const (
	// StrictAsk asks on the terminal (through the Prompter) and records
	// the key if the user accepts it.
	StrictAsk StrictHostKeyChecking = iota
	// StrictYes refuses unknown keys.
	StrictYes
	// StrictAcceptNew records unknown keys without asking.
	StrictAcceptNew
	// StrictNo records unknown keys without asking, as OpenSSH does for
	// "no" and "off".
	StrictNo
)

// String returns the ssh_config spelling: ask, yes, accept-new or no.
func (s StrictHostKeyChecking) String() string {
	switch s {
	case StrictYes:
		return "yes"
	case StrictAcceptNew:
		return "accept-new"
	case StrictNo:
		return "no"
	}
	return "ask"
}

// ParseStrictHostKeyChecking parses a StrictHostKeyChecking value as
// OpenSSH does: yes/true, no/false/off, ask, accept-new.
func ParseStrictHostKeyChecking(s string) (StrictHostKeyChecking, error) {
	switch strings.ToLower(s) {
	case "ask":
		return StrictAsk, nil
	case "yes", "true":
		return StrictYes, nil
	case "accept-new":
		return StrictAcceptNew, nil
	case "no", "false", "off":
		return StrictNo, nil
	}
	return StrictAsk, fmt.Errorf("sshclient: StrictHostKeyChecking: bad value %q (want yes, no, ask or accept-new)", s)
}

// defaultAuthMethods are the methods tried, in order, by default.
var defaultAuthMethods = []string{"publickey", "keyboard-interactive", "password"}

// defaultIdentities are OpenSSH 9's default identity files, in its order,
// less the kinds this client cannot use (security keys, XMSS, DSA).
var defaultIdentities = []string{"~/.ssh/id_rsa", "~/.ssh/id_ecdsa", "~/.ssh/id_ed25519"}

// interpret turns the collected settings into fields.
func (c *Config) interpret(set *settings) error {
	first := func(k string) (setting, bool) {
		v, ok := set.get(k)
		return v, ok && len(v.args) > 0
	}
	var errs []error
	bad := func(v setting, keyword string, err error) {
		errs = append(errs, fmt.Errorf("sshclient: %s: %s: %w", v.source, keyword, err))
	}
	yesno := func(keyword string, def bool) bool {
		v, ok := first(keyword)
		if !ok {
			return def
		}
		b, err := parseYesNo(v.args[0])
		if err != nil {
			bad(v, keyword, err)
		}
		return b
	}
	count := func(keyword string, def int) int {
		v, ok := first(keyword)
		if !ok {
			return def
		}
		n, err := strconv.Atoi(v.args[0])
		if err != nil || n < 0 {
			bad(v, keyword, fmt.Errorf("bad number %q", v.args[0]))
		}
		return n
	}
	duration := func(keyword string) time.Duration {
		v, ok := first(keyword)
		if !ok || strings.EqualFold(v.args[0], "none") {
			return 0
		}
		d, err := parseTime(v.args[0])
		if err != nil {
			bad(v, keyword, err)
		}
		return d
	}

	if v, ok := first("user"); ok {
		c.User = v.args[0]
	}
	c.Port = DefaultPort
	if v, ok := first("port"); ok {
		p, err := strconv.Atoi(v.args[0])
		if err != nil || p < 1 || p > 65535 {
			bad(v, "Port", fmt.Errorf("bad port %q", v.args[0]))
		}
		c.Port = p
	}
	for _, v := range set.multi["identityfile"] {
		if len(v.args) > 0 {
			c.raw.identityFiles = append(c.raw.identityFiles, v.args[0])
		}
	}
	if len(c.raw.identityFiles) == 0 {
		c.raw.identityFiles = defaultIdentities
		c.DefaultIdentities = true
	}
	c.IdentitiesOnly = yesno("IdentitiesOnly", false)
	if v, ok := first("identityagent"); ok {
		c.raw.identityAgent = v.args[0]
	}
	c.BatchMode = yesno("BatchMode", false)
	prefs := defaultAuthMethods
	if v, ok := first("preferredauthentications"); ok {
		prefs = strings.Split(v.args[0], ",")
	}
	enabled := map[string]bool{
		"publickey":            yesno("PubkeyAuthentication", true),
		"keyboard-interactive": yesno("KbdInteractiveAuthentication", yesno("ChallengeResponseAuthentication", true)),
		"password":             yesno("PasswordAuthentication", true),
	}
	c.PreferredAuthentications = []string{}
	for _, m := range prefs {
		if enabled[m] && !slices.Contains(c.PreferredAuthentications, m) {
			c.PreferredAuthentications = append(c.PreferredAuthentications, m)
		}
	}
	c.NumberOfPasswordPrompts = count("NumberOfPasswordPrompts", 3)

	if v, ok := first("stricthostkeychecking"); ok {
		s, err := ParseStrictHostKeyChecking(v.args[0])
		if err != nil {
			errs = append(errs, fmt.Errorf("sshclient: %s: %w", v.source, err))
		}
		c.StrictHostKeyChecking = s
	}
	c.raw.userKnown = []string{"~/.ssh/known_hosts", "~/.ssh/known_hosts2"}
	if v, ok := first("userknownhostsfile"); ok {
		c.raw.userKnown = v.args
	}
	c.GlobalKnownHostsFiles = []string{"/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"}
	if v, ok := first("globalknownhostsfile"); ok {
		c.GlobalKnownHostsFiles = v.args
	}
	if len(c.GlobalKnownHostsFiles) == 1 && c.GlobalKnownHostsFiles[0] == "none" {
		c.GlobalKnownHostsFiles = nil
	}
	c.HashKnownHosts = yesno("HashKnownHosts", false)
	if v, ok := first("hostkeyalias"); ok && !strings.EqualFold(v.args[0], "none") {
		c.HostKeyAlias = v.args[0]
	}

	c.ServerAliveInterval = duration("ServerAliveInterval")
	c.ServerAliveCountMax = count("ServerAliveCountMax", 3)
	c.ConnectTimeout = duration("ConnectTimeout")
	c.Sessions = count("SSMSessions", 0)

	for _, v := range set.multi["localforward"] {
		f, err := parseForwardArgs(v.args)
		if err != nil {
			bad(v, "LocalForward", err)
			continue
		}
		c.LocalForwards = append(c.LocalForwards, f)
	}
	c.ExitOnForwardFailure = yesno("ExitOnForwardFailure", false)
	if v, ok := first("requesttty"); ok {
		switch s := strings.ToLower(v.args[0]); s {
		case "yes", "true", "no", "false", "force", "auto":
			c.RequestTTY = map[string]string{"true": "yes", "false": "no", "auto": ""}[s]
			if c.RequestTTY == "" && s != "auto" {
				c.RequestTTY = s
			}
		default:
			bad(v, "RequestTTY", fmt.Errorf("bad value %q", v.args[0]))
		}
	}
	c.EscapeChar = '~'
	if v, ok := first("escapechar"); ok {
		e, err := parseEscapeChar(v.args[0])
		if err != nil {
			bad(v, "EscapeChar", err)
		}
		c.EscapeChar = e
	}
	if v, ok := first("proxycommand"); ok && !strings.EqualFold(v.rest, "none") {
		c.ProxyCommand = v.rest
	}
	if v, ok := first("proxyjump"); ok && !strings.EqualFold(v.args[0], "none") {
		bad(v, "ProxyJump", errors.New("not supported; use ProxyCommand with ssmproxy, or plain ssh"))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return c.expand()
}

// parseYesNo accepts yes/true and no/false.
func parseYesNo(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "yes", "true":
		return true, nil
	case "no", "false":
		return false, nil
	}
	return false, fmt.Errorf("bad yes/no value %q", s)
}

// parseTime parses OpenSSH's time format: a number of seconds, or a
// sequence of number-and-unit (s, m, h, d, w), e.g. "1m30s".
func parseTime(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("empty time")
	}
	var total time.Duration
	for rest := s; rest != ""; {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i > 9 {
			return 0, fmt.Errorf("bad time %q", s)
		}
		n, _ := strconv.Atoi(rest[:i])
		unit := time.Second
		rest = rest[i:]
		if rest != "" {
			switch rest[0] {
			case 's', 'S':
			case 'm', 'M':
				unit = time.Minute
			case 'h', 'H':
				unit = time.Hour
			case 'd', 'D':
				unit = 24 * time.Hour
			case 'w', 'W':
				unit = 7 * 24 * time.Hour
			default:
				return 0, fmt.Errorf("bad time %q", s)
			}
			rest = rest[1:]
		}
		total += time.Duration(n) * unit
	}
	return total, nil
}

// parseEscapeChar parses EscapeChar: a character, "^X" for a control
// character, or "none".
func parseEscapeChar(s string) (rune, error) {
	switch {
	case strings.EqualFold(s, "none"):
		return -1, nil
	case len(s) == 1:
		return rune(s[0]), nil
	case len(s) == 2 && s[0] == '^':
		return rune(s[1] & 31), nil
	}
	return 0, fmt.Errorf("bad escape character %q", s)
}
