package ssmclient

import "testing"

func TestMinAgentVersion(t *testing.T) {
	tests := []struct {
		doc    string
		params map[string][]string
		want   string
	}{
		{"", nil, ""},
		{DocumentRunShell, nil, ""},
		{"My-Custom-Doc", nil, ""},
		{DocumentSSH, nil, "2.3.672.0"},
		{DocumentPortForwarding, nil, "2.3.672.0"},
		{DocumentPortForwardingRemote, nil, "3.1.1374.0"},
		{DocumentInteractiveCommand, nil, "2.3.668.0"},
		{DocumentNonInteractiveCommand, nil, "3.0.1124.0"},
		{DocumentNonInteractiveCommand, map[string][]string{"separateOutputStream": {"false"}}, "3.0.1124.0"},
		{DocumentNonInteractiveCommand, map[string][]string{"separateOutputStream": {"true"}}, "3.1.1511.0"},
	}
	for _, tt := range tests {
		if got := MinAgentVersion(tt.doc, tt.params); got.Version != tt.want || (got.Version != "" && got.Feature == "") {
			t.Errorf("%s %v: %+v, want %s", tt.doc, tt.params, got, tt.want)
		}
	}
	e := &AgentTooOldError{Target: "i-1", Version: "2.3.1.0", Need: MinAgentVersion(DocumentInteractiveCommand, nil)}
	if got := e.Error(); got != "ssmclient: the SSM agent on i-1 is version 2.3.1.0; interactive commands (AWS-StartInteractiveCommand) needs 2.3.668.0 or later: update the agent (for example with the AWS-UpdateSSMAgent document)" {
		t.Errorf("message %q", got)
	}
}
