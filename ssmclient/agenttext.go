package ssmclient

import (
	"strings"
)

// agentTexts are the failure texts with which agents end sessions
// (channel_closed Output) that the Session Manager troubleshooting guide
// explains, each with the cause and fix it names.
var agentTexts = []struct {
	match func(string) bool
	hint  func(region string) string
}{
	{containsAll("RunAs user", "does not exist"), func(string) string {
		return "RunAs is on in the Session Manager preferences and that OS user does not exist on the instance: create it there, set an existing user (ec2-user, ubuntu, …) as the preferences' RunAs default user or the principal's SSMSessionRunAs tag, or turn RunAs off"
	}},
	{containsAny("Invalid RunAs username", "please set the RunAs default user"), func(string) string {
		return "RunAs is on in the Session Manager preferences with a blank or invalid OS user: set an existing user (ec2-user, ubuntu, …) as the preferences' RunAs default user or the principal's SSMSessionRunAs tag, or turn RunAs off"
	}},
	{containsAny("Handshake timed out"), func(region string) string {
		kms := "kms.<region>.amazonaws.com:443"
		if region != "" {
			kms = "kms." + region + ".amazonaws.com:443"
		}
		return "with KMS encryption on in the Session Manager preferences the instance must reach " + kms + " (a KMS VPC endpoint or a route; test with a TCP connect from the instance); otherwise the instance is overloaded: retry"
	}},
	{containsAny("Failed to get datakey", "Error decrypting data key"), func(string) string {
		return "the instance profile needs kms:Decrypt, and you kms:GenerateDataKey, on the KMS key of the Session Manager preferences: add that statement naming the key ARN"
	}},
	{containsAll("Invalid keyId"), func(string) string {
		return "the KMS key in the Session Manager preferences does not exist: fix its ARN in the preferences (aws kms list-keys lists the keys)"
	}},
}

func containsAll(subs ...string) func(string) bool {
	return func(s string) bool {
		for _, sub := range subs {
			if !strings.Contains(s, sub) {
				return false
			}
		}
		return true
	}
}

func containsAny(subs ...string) func(string) bool {
	return func(s string) bool {
		for _, sub := range subs {
			if strings.Contains(s, sub) {
				return true
			}
		}
		return false
	}
}

// ExplainAgentText returns the text with which an agent or the service
// ended a session (SessionEndedError.Output) on one line, followed by
// the troubleshooting guide's cause and fix in parentheses when the text
// is one the guide explains. region names the session's region in the
// hints (may be empty).
func ExplainAgentText(output, region string) string {
	out := strings.Join(strings.Fields(output), " ")
	for _, t := range agentTexts {
		if t.match(out) {
			return out + " (" + t.hint(region) + ")"
		}
	}
	return out
}
