package proxy

import (
	"context"
	"strings"

	"github.com/ssmssh/ssmssh/doctor"
	"github.com/ssmssh/ssmssh/ssmclient"
)

// diagnoseNotConnected is [ssmclient.DiagnoseNotConnected].
func diagnoseNotConnected(ctx context.Context, api ssmclient.EC2DescribeInstancesAPI, region string, target ssmclient.Target, err error) error {
	return ssmclient.DiagnoseNotConnected(ctx, api, region, target, err)
}

// agentHints explain, for ssmproxy's users, the texts with which the
// instance's agent ends sessions (channel_closed Output); port is the
// remote port of the session.
var agentHints = []struct {
	prefix string
	hint   func(port string) string
}{
	{"Handshake timed out", func(string) string {
		return "the instance's SSM agent did not get ssmproxy's handshake answer in time; ssmproxy needs no session-manager-plugin: retry, and run ssmproxy -v if it persists"
	}},
	{"Unable to connect to specified port", func(port string) string {
		return "nothing accepts connections on port " + port + " of the instance: is sshd running there?"
	}},
}

// explainAgentText appends a hint to a known agent failure text.
func explainAgentText(output, port string) string {
	output = strings.TrimSpace(output)
	if port == "" {
		port = "22"
	}
	for _, h := range agentHints {
		if strings.HasPrefix(output, h.prefix) {
			return output + " (" + h.hint(port) + ")"
		}
	}
	return output
}

// explainResolve is [ssmclient.ExplainResolve].
func explainResolve(host string, err error) error { return ssmclient.ExplainResolve(host, err) }

// withDoctor ends msg, the line for err, with where to learn more when
// err has a cause that `ssmssh doctor` names ([doctor.WithSuffix]).
func withDoctor(msg string, err error, host string) string { return doctor.WithSuffix(msg, err, host) }
