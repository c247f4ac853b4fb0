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

func TestExplainAgentText(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"Unable to start command: failed to start pty since RunAs user x does not exist\n", "RunAs is on in the Session Manager preferences and that OS user does not exist"},
		{"Invalid RunAs username", "blank or invalid OS user"},
		{"Handshake timed out. Please ensure that you have the latest version of the session manager plugin.", "kms.eu-west-1.amazonaws.com:443"},
		{"Failed to get datakey. Error decrypting data key AccessDeniedException", "kms:Decrypt"},
		{"NotFoundException: Invalid keyId abc", "does not exist: fix its ARN"},
	} {
		if got := ExplainAgentText(tt.in, "eu-west-1"); !containsAll(tt.want)(got) || containsAll("\n")(got) {
			t.Errorf("%q: %q", tt.in, got)
		}
	}
	if got := ExplainAgentText("  something\nelse ", ""); got != "something else" {
		t.Errorf("unknown text: %q", got)
	}
}
