package agent

import (
	"context"
	"encoding/json"

	"github.com/ssmssh/ssmssh/protocol"
)

// shellProperties are the per-platform properties of command documents.
type shellProperties struct {
	Linux struct {
		Commands              string `json:"commands"`
		RunAsElevated         bool   `json:"runAsElevated"`
		SeparateOutputStream  any    `json:"separateOutputStream"`
		StdOutSeparatorPrefix string `json:"stdOutSeparatorPrefix"`
		StdErrSeparatorPrefix string `json:"stdErrSeparatorPrefix"`
	} `json:"linux"`
}

// runPlugin runs the session plugin for the document's session type.
func (a *Agent) runPlugin(ctx context.Context, ms protocol.MessageStream, doc sessionDocument,
	props json.RawMessage, principal, clientVersion string) Result {
	var (
		res Result
		err error
	)
	switch doc.SessionType {
	case typePort:
		var p protocol.PortProperties
		if err := json.Unmarshal(props, &p); err != nil {
			return Result{Status: StatusFailed, ExitCode: ExitFailure, Output: "invalid port session properties: " + err.Error()}
		}
		res, err = RunPort(ctx, ms, PortOptions{
			PortNumber: p.PortNumber, Host: p.Host, Type: p.Type, ClientVersion: clientVersion,
			AgentVersion: a.cfg.Version, Dial: a.cfg.Dial, LookupHost: a.cfg.LookupHost, Pacer: a.cfg.Pacer, Logf: a.logf,
		})
	case typeStandardStream, typeInteractiveCommands, typeNonInteractiveCommands:
		var sp shellProperties
		if len(props) > 0 {
			_ = json.Unmarshal(props, &sp)
		}
		opts := ShellOptions{
			Shell:   a.cfg.Shell,
			Profile: shellProfile(doc.Inputs.ShellProfile),
			RunAs: RunAs{
				Enabled:    doc.Inputs.RunAsEnabled,
				User:       RunAsUser(doc.Inputs.RunAsDefaultUser, principal),
				Elevated:   sp.Linux.RunAsElevated,
				LookupUser: a.cfg.LookupUser,
			},
			SeparateOutputStream: truthy(sp.Linux.SeparateOutputStream),
			StdOutPrefix:         sp.Linux.StdOutSeparatorPrefix,
			StdErrPrefix:         sp.Linux.StdErrSeparatorPrefix,
			Pacer:                a.cfg.Pacer,
			Logf:                 a.logf,
		}
		switch doc.SessionType {
		case typeStandardStream:
			res, err = RunShell(ctx, ms, opts)
		case typeInteractiveCommands:
			res, err = RunInteractiveCommand(ctx, ms, sp.Linux.Commands, opts)
		default:
			res, err = RunCommand(ctx, ms, sp.Linux.Commands, opts)
		}
	default:
		return Result{Status: StatusFailed, ExitCode: ExitFailure, Output: "unsupported session type " + doc.SessionType}
	}
	if err != nil {
		a.logf("agent %s: %s session: %v", a.cfg.InstanceID, doc.SessionType, err)
	}
	return res
}

// shellProfile extracts the Linux shell profile from the document input.
func shellProfile(raw json.RawMessage) string {
	var p struct {
		Linux string `json:"linux"`
	}
	if len(raw) > 0 && json.Unmarshal(raw, &p) == nil {
		return p.Linux
	}
	return ""
}

// truthy reads the document's separateOutputStream, a boolean or a string.
func truthy(v any) bool {
	switch t := v.(type) {
	case bool:
		return t
	case string:
		return t == "true" || t == "True"
	}
	return false
}
