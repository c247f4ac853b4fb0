package protocol

import (
	"strconv"
	"strings"
)

// ClientVersion is the session-manager-plugin version this package
// announces as a client (in OpenDataChannelInput and HandshakeResponse).
//
// 1.2.764.0 (released November 19, 2025) is the first plugin release that
// signs the data-channel websocket upgrade with SigV4 (its release notes:
// "Added support for signing OpenDataChannel request"; the other change
// was style fixes for a newer Go), which is what DialDataChannel does with
// DialOptions.Credentials; AWS asks users for that release or later. The
// plugin has announced its version in OpenDataChannelInput since
// 1.2.677.0.
//
// The agent branches on it: clients at or above 1.1.70 get smux port
// forwarding instead of one TCP connection per session, and clients above
// 1.2.331.0 get smux with keepalive disabled (keepalive frames would keep
// an idle session alive forever). 1.2.764.0 is past both thresholds, so an
// agent treats us exactly like a current plugin.
const ClientVersion = "1.2.764.0"

// Version thresholds of the real programs. Agents compare the client's
// version; clients compare the agent's.
const (
	// muxMinClientVersion: the agent's port plugin uses smux for port
	// forwarding when the client's version is at least this.
	muxMinClientVersion = "1.1.70"
	// keepaliveLastClientVersion: the agent disables smux keepalive for
	// clients newer than this.
	keepaliveLastClientVersion = "1.2.331.0"
	// muxLastOldAgentVersion: the plugin uses smux with agents newer than
	// this.
	muxLastOldAgentVersion = "3.0.196.0"
	// keepaliveLastAgentVersion: the plugin disables smux keepalive with
	// agents newer than this.
	keepaliveLastAgentVersion = "3.1.1511.0"
	// terminateFlagLastOldAgentVersion: the plugin sends Flag
	// TerminateSession only to agents newer than this.
	terminateFlagLastOldAgentVersion = "2.3.722.0"
	// outputSeparationLastOldClientVersion: clients up to this version
	// cannot tell StdErr payloads from output; the agent warns them in
	// HandshakeComplete.
	outputSeparationLastOldClientVersion = "1.2.295"
	// outputSeparationFirstClientVersion is the version that warning names.
	outputSeparationFirstClientVersion = "1.2.312.0"
)

// CompareVersions compares two dotted version strings as the agent does
// with client versions: component by component, numerically where both
// components are numbers and as text otherwise; when one version is a
// prefix of the other, the shorter is the lesser ("1.2.331" <
// "1.2.331.0"). It returns -1, 0 or +1.
//
// (The agent first tries semantic-version rules when both strings are
// semver; for plain numeric versions those agree with the rule above.
// Pre-release suffixes are not supported.)
func CompareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		an, aerr := strconv.Atoi(as[i])
		bn, berr := strconv.Atoi(bs[i])
		if aerr == nil && berr == nil {
			if an != bn {
				return sign(an - bn)
			}
			continue
		}
		if c := strings.Compare(as[i], bs[i]); c != 0 {
			return c
		}
	}
	return sign(len(as) - len(bs))
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// agentNewerThan reports whether agentVersion is newer than threshold by
// the plugin's rule, which is stricter than CompareVersions: both versions
// must have the same number of components, all numeric; anything else
// counts as "not newer".
func agentNewerThan(agentVersion, threshold string) bool {
	as, ts := strings.Split(agentVersion, "."), strings.Split(threshold, ".")
	if agentVersion == "" || len(as) != len(ts) {
		return false
	}
	for i := range as {
		an, aerr := strconv.Atoi(as[i])
		tn, terr := strconv.Atoi(ts[i])
		if aerr != nil || terr != nil {
			return false
		}
		if an != tn {
			return an > tn
		}
	}
	return false
}

// AgentSupportsMux reports whether a client uses smux port forwarding with
// an agent of this version (newer than 3.0.196.0, compared as the plugin
// does: four numeric components).
func AgentSupportsMux(agentVersion string) bool {
	return agentNewerThan(agentVersion, muxLastOldAgentVersion)
}

// AgentDisablesKeepalive reports whether a client disables smux keepalive
// with an agent of this version (newer than 3.1.1511.0): such agents
// disable it on their side too, and keepalive frames would defeat the
// service's idle-session timeout.
func AgentDisablesKeepalive(agentVersion string) bool {
	return agentNewerThan(agentVersion, keepaliveLastAgentVersion)
}

// AgentSupportsTerminateSessionFlag reports whether an agent of this
// version (newer than 2.3.722.0) ends a session on Flag TerminateSession.
func AgentSupportsTerminateSessionFlag(agentVersion string) bool {
	return agentNewerThan(agentVersion, terminateFlagLastOldAgentVersion)
}

// ClientSupportsMux reports whether an agent uses smux for a port
// forwarding session with a client of this version (at least 1.1.70).
func ClientSupportsMux(clientVersion string) bool {
	return CompareVersions(clientVersion, muxMinClientVersion) >= 0
}

// ClientDisablesKeepalive reports whether an agent disables smux keepalive
// with a client of this version (newer than 1.2.331.0).
func ClientDisablesKeepalive(clientVersion string) bool {
	return CompareVersions(clientVersion, keepaliveLastClientVersion) > 0
}
