package protocol

import "testing"

func TestCompareVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.2.707.0", "1.1.70", 1},
		{"1.1.70", "1.1.70", 0},
		{"1.1.69", "1.1.70", -1},
		{"1.1.70.0", "1.1.70", 1}, // longer wins on an equal prefix
		{"1.2.331.0", "1.2.331.0", 0},
		{"1.2.332.0", "1.2.331.0", 1},
		{"1.2.10.0", "1.2.9.0", 1}, // numeric, not text
		{"", "1.1.70", -1},
		{"1.x", "1.2", 1}, // text where not numeric
	} {
		if got := CompareVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := CompareVersions(tc.b, tc.a); got != -tc.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", tc.b, tc.a, got, -tc.want)
		}
	}
}

func TestVersionRules(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func(string) bool
		v    string
		want bool
	}{
		{"AgentSupportsMux", AgentSupportsMux, "3.0.196.0", false},
		{"AgentSupportsMux", AgentSupportsMux, "3.0.197.0", true},
		{"AgentSupportsMux", AgentSupportsMux, "3.3.1142.0", true},
		{"AgentSupportsMux", AgentSupportsMux, "3.3", false}, // the plugin needs four components
		{"AgentSupportsMux", AgentSupportsMux, "", false},
		{"AgentSupportsMux", AgentSupportsMux, "3.x.0.0", false},
		{"AgentDisablesKeepalive", AgentDisablesKeepalive, "3.1.1511.0", false},
		{"AgentDisablesKeepalive", AgentDisablesKeepalive, "3.1.1512.0", true},
		{"AgentDisablesKeepalive", AgentDisablesKeepalive, "3.0.197.0", false},
		{"AgentSupportsTerminateSessionFlag", AgentSupportsTerminateSessionFlag, "2.3.722.0", false},
		{"AgentSupportsTerminateSessionFlag", AgentSupportsTerminateSessionFlag, "2.3.723.0", true},
		{"ClientSupportsMux", ClientSupportsMux, "1.1.70", true},
		{"ClientSupportsMux", ClientSupportsMux, "1.1.69.0", false},
		{"ClientSupportsMux", ClientSupportsMux, "1.2.0.0", true},
		{"ClientSupportsMux", ClientSupportsMux, "", false},
		{"ClientDisablesKeepalive", ClientDisablesKeepalive, "1.2.331.0", false},
		{"ClientDisablesKeepalive", ClientDisablesKeepalive, "1.2.339.0", true},
		{"ClientDisablesKeepalive", ClientDisablesKeepalive, ClientVersion, true},
	} {
		if got := tc.f(tc.v); got != tc.want {
			t.Errorf("%s(%q) = %v, want %v", tc.name, tc.v, got, tc.want)
		}
	}
	if !ClientSupportsMux(ClientVersion) {
		t.Errorf("ClientVersion %s must get smux", ClientVersion)
	}
}

// The announced version is one that signs its websocket upgrade, as
// DialDataChannel does: AWS supports plugins from 1.2.764.0.
func TestClientVersionSigns(t *testing.T) {
	if CompareVersions(ClientVersion, "1.2.764.0") < 0 {
		t.Errorf("ClientVersion %s is older than 1.2.764.0, the first plugin release that signs", ClientVersion)
	}
}
