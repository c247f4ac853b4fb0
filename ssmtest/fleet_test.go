package ssmtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestLoadFleet(t *testing.T) {
	f, err := LoadFleet("testdata/fleet.json")
	if err != nil {
		t.Fatal(err)
	}
	all := f.Instances()
	if len(all) != 3 {
		t.Fatalf("%d instances", len(all))
	}
	b := all[0]
	if b.Name != "bastion" || b.Tags["Name"] != "" || b.Tags["Team"] != "platform" || b.State != StateRunning ||
		b.PingStatus != PingOnline || b.PlatformType != "Linux" || b.AgentVersion != DefaultAgentVersion ||
		b.PrivateDNSName != "ip-10-1-0-5.ec2.internal" || !strings.HasPrefix(b.Image.ImageID, "ami-") ||
		b.Image.PlatformDetails != "Linux/UNIX" || b.Image.Architecture != "x86_64" || !b.HasUser("ec2-user") || b.HasUser("root") {
		t.Errorf("defaults not filled in: %+v", b)
	}
	if tgt, ok := b.PortTarget("22"); !ok || tgt != BuiltinSSH {
		t.Errorf("port 22 → %q %v", tgt, ok)
	}
	if tgt, ok := b.RemoteHostTarget("db.internal:5432"); !ok || tgt != "127.0.0.1:15432" {
		t.Errorf("remote host → %q %v", tgt, ok)
	}
	if w := all[1]; w.PingStatus != PingConnectionLost || w.Image.PlatformDetails != "Windows" {
		t.Errorf("stopped Windows instance: %+v", w)
	}
	if m := all[2]; !m.IsManagedNode() || m.Image != (Image{}) || m.PingStatus != PingInactive {
		t.Errorf("managed node: %+v", m)
	}
	if keys := f.KMSKeys(); len(keys) != 1 || keys[0].Aliases[1] != "alias/team" {
		t.Errorf("keys = %+v", keys)
	}

	// MarshalJSON writes what ParseFleet reads.
	data, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	g, err := ParseFleet(data)
	if err != nil {
		t.Fatalf("re-parse: %v\n%s", err, data)
	}
	if again, _ := json.Marshal(g); string(again) != string(data) {
		t.Errorf("round trip changed the fleet:\n%s\n%s", data, again)
	}
}

func TestParseFleetRejects(t *testing.T) {
	bad := map[string]string{
		"unknown field":         `{"Instances":[{"InstanceId":"i-0123456789abcdef0","Colour":"red"}]}`,
		"bad id":                `{"Instances":[{"InstanceId":"web01"}]}`,
		"duplicate id":          `{"Instances":[{"InstanceId":"i-01234567"},{"InstanceId":"i-01234567"}]}`,
		"bad state":             `{"Instances":[{"InstanceId":"i-01234567","State":"sleeping"}]}`,
		"bad ping status":       `{"Instances":[{"InstanceId":"i-01234567","PingStatus":"Up"}]}`,
		"bad platform":          `{"Instances":[{"InstanceId":"i-01234567","PlatformType":"Plan9"}]}`,
		"bad port":              `{"Instances":[{"InstanceId":"i-01234567","Ports":{"ssh":"builtin-ssh"}}]}`,
		"non-loopback target":   `{"Instances":[{"InstanceId":"i-01234567","Ports":{"80":"192.0.2.1:80"}}]}`,
		"remote host sans port": `{"Instances":[{"InstanceId":"i-01234567","RemoteHosts":{"db":"127.0.0.1:5432"}}]}`,
		"bad private IP":        `{"Instances":[{"InstanceId":"i-01234567","PrivateIpAddress":"10.0.0"}]}`,
		"AMI on managed node":   `{"Instances":[{"InstanceId":"mi-0123456789abcdef0","Image":{"Name":"x"}}]}`,
		"bad AMI id":            `{"Instances":[{"InstanceId":"i-01234567","Image":{"ImageId":"ubuntu"}}]}`,
		"key id not a UUID":     `{"Instances":[],"KMSKeys":[{"KeyId":"k1"}]}`,
		"alias without prefix":  `{"Instances":[],"KMSKeys":[{"KeyId":"11111111-2222-4333-8444-555555555555","Aliases":["ssm"]}]}`,
		"duplicate alias": `{"Instances":[],"KMSKeys":[{"KeyId":"11111111-2222-4333-8444-555555555555","Aliases":["alias/a"]},
			{"KeyId":"11111111-2222-4333-8444-555555555556","Aliases":["alias/a"]}]}`,
	}
	for name, text := range bad {
		if _, err := ParseFleet([]byte(text)); err == nil || !strings.HasPrefix(err.Error(), "ssmtest: ") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestDefaultFleet(t *testing.T) {
	f := DefaultFleet()
	platforms := map[string]bool{}
	for _, in := range f.Instances() {
		platforms[in.PlatformName] = true
	}
	for _, p := range []string{"Amazon Linux", "Ubuntu", "Debian GNU/Linux", "Red Hat Enterprise Linux", "SLES",
		"Microsoft Windows Server 2022 Datacenter"} {
		if !platforms[p] {
			t.Errorf("default fleet lacks %s", p)
		}
	}
	if in, _ := f.Instance(InstanceRHEL); in.PingStatus != PingConnectionLost {
		t.Errorf("RHEL ping status %s", in.PingStatus)
	}
	if in, _ := f.Instance(ManagedNodeOnPrem); !in.IsManagedNode() {
		t.Errorf("no managed node")
	}
	// Each call returns an independent fleet.
	if err := f.SetState(InstanceUbuntu, StateStopped); err != nil {
		t.Fatal(err)
	}
	if in, _ := DefaultFleet().Instance(InstanceUbuntu); in.State != StateRunning {
		t.Error("DefaultFleet shares state between calls")
	}
}

func TestFleetUpdates(t *testing.T) {
	f := DefaultFleet()
	if err := f.SetPort(InstanceUbuntu, "8080", "127.0.0.1:18080"); err != nil {
		t.Fatal(err)
	}
	in, _ := f.Instance(InstanceUbuntu)
	if tgt, _ := in.PortTarget("8080"); tgt != "127.0.0.1:18080" {
		t.Errorf("port 8080 → %q", tgt)
	}
	in.Ports["8080"] = "changed" // a copy: the fleet is unaffected
	if in, _ := f.Instance(InstanceUbuntu); in.Ports["8080"] != "127.0.0.1:18080" {
		t.Error("Instance returned shared maps")
	}
	if err := f.SetPort(InstanceUbuntu, "8080", "10.0.0.1:80"); err == nil {
		t.Error("non-loopback port target accepted")
	}
	if err := f.SetRemoteHost(InstanceUbuntu, "cache.internal:6379", "[::1]:16379"); err != nil {
		t.Fatal(err)
	}
	if err := f.SetPingStatus(InstanceUbuntu, PingInactive); err != nil {
		t.Fatal(err)
	}
	if err := f.Update(InstanceUbuntu, func(in *Instance) { in.InstanceID = "i-00000000" }); err == nil {
		t.Error("instance id changed")
	}
	if err := f.SetState("i-0123456789abcdef0", StateRunning); !errors.Is(err, ErrNoSuchInstance) {
		t.Errorf("unknown instance: %v", err)
	}
	if !f.Remove(InstanceUbuntu) || f.Remove(InstanceUbuntu) {
		t.Error("Remove")
	}
	if err := f.Add(Instance{InstanceID: InstanceDebian}); err == nil {
		t.Error("duplicate Add accepted")
	}
}

// TestFleetConcurrentUse is meant for -race.
func TestFleetConcurrentUse(t *testing.T) {
	f := DefaultFleet()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				port := fmt.Sprint(10000 + i*100 + j)
				if err := f.SetPort(InstanceDebian, port, "127.0.0.1:"+port); err != nil {
					t.Error(err)
					return
				}
				for _, in := range f.Instances() {
					_ = len(in.Ports)
				}
				_, _ = json.Marshal(f)
			}
		})
	}
	wg.Wait()
	if in, _ := f.Instance(InstanceDebian); len(in.Ports) != 1+8*50 {
		t.Fatalf("%d ports after concurrent updates", len(in.Ports))
	}
}
