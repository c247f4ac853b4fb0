package ssmlocal

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ssmssh/ssmssh/ssmtest"
)

// An external agent is a program of its own, typically a real
// amazon-ssm-agent, that serves a fleet instance: ssmlocal starts no
// built-in agent for it, and prints (and writes into the state directory)
// the configuration that points the agent at the emulator.
//
// What amazon-ssm-agent needs, from its sources (agent/appconfig,
// common/identity) and from running it against ssmlocal:
//
//   - Agent.ContainerMode: true, so that it runs Session Manager only (no
//     health pings, no ec2messages polling, no inventory) and needs no
//     instance registration;
//   - Identity.ConsumptionOrder ["CustomIdentity"] with one
//     CustomIdentities entry: the instance id and region, credentials from
//     the "DEFAULT" provider chain (the environment's AWS_ACCESS_KEY_ID and
//     AWS_SECRET_ACCESS_KEY: the emulator's, since the gateway checks the
//     signature of every request);
//   - Mgs.Endpoint (its ssmmessages endpoint, where it opens the control
//     and data channels), Kms.Endpoint and Ssm.Endpoint naming the
//     emulator, or else HTTPS_PROXY in its environment (it dials its
//     websockets and API calls through http.ProxyFromEnvironment);
//   - trust for the emulator's CA: SSL_CERT_FILE in its environment, or in
//     container mode a certs/amazon-ssm-agent.crt beside its binaries.

// markExternal marks the instances as served by external agents, adding
// a Linux managed node (or EC2 instance) for an id the fleet lacks.
func markExternal(fl *ssmtest.Fleet, ids []string) error {
	for _, id := range ids {
		if _, ok := fl.Instance(id); !ok {
			in := ssmtest.Instance{InstanceID: id, Name: "external-agent", PlatformType: "Linux",
				PlatformName: "Linux", ExternalAgent: true}
			if err := fl.Add(in); err != nil {
				return fmt.Errorf("--external %s: %w", id, err)
			}
			continue
		}
		if err := fl.Update(id, func(in *ssmtest.Instance) { in.ExternalAgent = true }); err != nil {
			return fmt.Errorf("--external %s: %w", id, err)
		}
	}
	return nil
}

// agentConfig is the amazon-ssm-agent.json for an external instance.
func agentConfig(s *ssmtest.Server, id string) ([]byte, error) {
	type obj = map[string]any
	cfg := obj{
		"Agent": obj{"Region": s.Region(), "ContainerMode": true},
		"Identity": obj{
			"ConsumptionOrder": []string{"CustomIdentity"},
			"CustomIdentities": []obj{{"InstanceID": id, "Region": s.Region(), "CredentialsProvider": "DEFAULT"}},
		},
		"Mgs": obj{"Region": s.Region(), "Endpoint": s.URL()},
		"Kms": obj{"Endpoint": s.URL()},
		"Ssm": obj{"Endpoint": s.URL()},
	}
	return json.MarshalIndent(cfg, "", "  ")
}

// agentEnv is the environment an external agent runs with.
func agentEnv(s *ssmtest.Server) []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + ssmtest.FakeAccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + ssmtest.FakeSecretAccessKey,
		"SSL_CERT_FILE=" + s.CAFile(),
	}
}

// writeAgentConfigs writes, for each instance served by an external agent,
// its amazon-ssm-agent.json into DIR/agents/<id>/, and prints how to run
// the agent with it.
func writeAgentConfigs(w io.Writer, s *ssmtest.Server, dir string) {
	for _, in := range s.Fleet().Instances() {
		if !in.ExternalAgent {
			continue
		}
		cfg, err := agentConfig(s, in.InstanceID)
		if err != nil {
			fmt.Fprintf(w, "\n# %s: agent configuration: %v\n", in.InstanceID, err)
			continue
		}
		path := filepath.Join(dir, "agents", in.InstanceID, "amazon-ssm-agent.json")
		err = os.MkdirAll(filepath.Dir(path), 0o700)
		if err == nil {
			err = os.WriteFile(path, append(cfg, '\n'), 0o600)
		}
		if err != nil {
			fmt.Fprintf(w, "\n# %s: write agent configuration: %v\n", in.InstanceID, err)
			continue
		}
		fmt.Fprintf(w, "\n# %s is served by an external agent: run amazon-ssm-agent with %s\n", in.InstanceID, path)
		fmt.Fprintf(w, "# as configuration/amazon-ssm-agent.json beside its binaries (or /etc/amazon/ssm/amazon-ssm-agent.json):\n")
		for _, line := range strings.Split(string(cfg), "\n") {
			fmt.Fprintf(w, "#   %s\n", line)
		}
		fmt.Fprintf(w, "# and this environment:\n#   %s\n", strings.Join(agentEnv(s), " "))
	}
}
