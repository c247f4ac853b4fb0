package agent

import (
	"encoding/json"
	"fmt"

	"github.com/ssmssh/ssmssh/protocol"
)

// Agent versions that first ran each kind of session (SESSIONS.md section
// 1): Port sessions (SSH and port forwarding) came with 2.3.672.0, port
// forwarding to a remote host (a Port session with a "host" property)
// with 3.1.1374.0. Shell and command sessions run on any version the
// emulator plays.
const (
	MinVersionPort       = "2.3.672.0"
	MinVersionRemoteHost = "3.1.1374.0"
)

// tooOld returns the failure an agent of version gives for a session it
// cannot run, or "". An agent without a plugin fails the step as the real
// one does ("Plugin with name Port is not supported by this version of ssm
// agent…"), before any data channel opens.
func tooOld(version string, doc sessionDocument, props json.RawMessage) string {
	if doc.SessionType != typePort {
		return ""
	}
	min := MinVersionPort
	var p struct {
		Host string `json:"host"`
	}
	if json.Unmarshal(props, &p) == nil && p.Host != "" {
		min = MinVersionRemoteHost
	}
	if protocol.CompareVersions(version, min) >= 0 {
		return ""
	}
	return fmt.Sprintf("Plugin with name %s is not supported by this version of ssm agent, please update to latest version. Step name: %s",
		typePort, typePort)
}
