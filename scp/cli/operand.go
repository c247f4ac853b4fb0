package cli

// operand is a source or target of the command line.
type operand struct {
	arg  string // as given
	host string // "[user@]host" of a remote path, "" for a local one
	path string // the path: local, or on host
}

func (o operand) remote() bool { return o.host != "" || o.path != o.arg }

// parseOperand splits "[user@]host:path" as OpenSSH's scp does: an
// argument is local when it begins with ':' or has a '/' before its
// first ':'; a host in brackets ("[::1]:path", "user@[fe80::1]:path")
// may hold ':'.
func parseOperand(arg string) operand {
	local := operand{arg: arg, path: arg}
	if arg == "" || arg[0] == ':' {
		return local
	}
	bracket := arg[0] == '['
	for i := 0; i < len(arg); i++ {
		switch ch := arg[i]; {
		case ch == '@' && i+1 < len(arg) && arg[i+1] == '[':
			bracket = true
		case ch == ']' && bracket && i+1 < len(arg) && arg[i+1] == ':':
			return remoteOperand(arg, i+1)
		case ch == ':' && !bracket:
			return remoteOperand(arg, i)
		case ch == '/':
			return local
		}
	}
	return local
}

// remoteOperand splits arg at the ':' at i, unbracketing the host.
func remoteOperand(arg string, i int) operand {
	host := arg[:i]
	if j := lastAt(host); j >= 0 && len(host) > j+2 && host[j+1] == '[' && host[len(host)-1] == ']' {
		host = host[:j+1] + host[j+2:len(host)-1]
	} else if len(host) > 2 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	return operand{arg: arg, host: host, path: arg[i+1:]}
}

func lastAt(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '@' {
			return i
		}
	}
	return -1
}

// anyRemote reports whether some operand is remote.
func anyRemote(ops []operand) bool {
	for _, o := range ops {
		if o.remote() {
			return true
		}
	}
	return false
}

// paths are the operands' paths.
func paths(ops []operand) []string {
	out := make([]string, len(ops))
	for i, o := range ops {
		out[i] = o.path
	}
	return out
}
