package ssmclient

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ssmssh/ssmssh/ssmtest"
)

func TestParseTarget(t *testing.T) {
	const (
		task32  = "0123456789abcdef0123456789abcdef"
		taskOld = "01234567-89ab-cdef-0123-456789abcdef"
		docker  = "4f1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"
		fargate = task32 + "-2531612879"
	)
	tests := []struct {
		in      string
		want    Target // zero when not an id
		wantErr string // substring, when malformed
	}{
		{in: "i-0123abcd", want: Target{ID: "i-0123abcd", Kind: KindInstance, InstanceID: "i-0123abcd"}},
		{in: "i-0a1b2c3d4e5f00001", want: Target{ID: "i-0a1b2c3d4e5f00001", Kind: KindInstance, InstanceID: "i-0a1b2c3d4e5f00001"}},
		{in: "mi-0a1b2c3d4e5f00007", want: Target{ID: "mi-0a1b2c3d4e5f00007", Kind: KindManaged}},
		{in: "ecs:prod_" + task32 + "_" + fargate, want: Target{ID: "ecs:prod_" + task32 + "_" + fargate, Name: "prod", Kind: KindECS}},
		{in: "ecs:my_cluster-2_" + taskOld + "_" + docker, want: Target{ID: "ecs:my_cluster-2_" + taskOld + "_" + docker, Name: "my_cluster-2", Kind: KindECS}},
		// Names, not ids.
		{in: "web-1"},
		{in: "i-0123abc"},            // too short
		{in: "i-0123456789abcdef01"}, // too long
		{in: "i-0123ABCD"},           // ids are lower case
		{in: "I-0123abcd"},
		{in: "mi-xyz"},
		{in: "10.0.1.11"},
		{in: "ip-10-0-1-11.ec2.internal"},
		{in: "i-0123abcd.example.com"},
		// Malformed ECS targets.
		{in: "ecs:", wantErr: "no underscores"},
		{in: "ecs:prod_" + task32, wantErr: "only one underscore"},
		{in: "ecs:prod_nottask_" + docker, wantErr: "bad task id"},
		{in: "ecs:_" + task32 + "_" + docker, wantErr: "bad cluster name"},
		{in: "ecs:pr od_" + task32 + "_" + docker, wantErr: "bad cluster name"},
		{in: "ecs:prod_" + task32 + "_", wantErr: "bad container runtime id"},
		{in: "ecs:prod_" + task32 + "_xyz", wantErr: "bad container runtime id"},
	}
	for _, tc := range tests {
		got, ok, err := ParseTarget(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "ssmclient: ") {
				t.Errorf("ParseTarget(%q) error = %v, want one containing %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseTarget(%q): %v", tc.in, err)
			continue
		}
		if ok != (tc.want != Target{}) || got != tc.want {
			t.Errorf("ParseTarget(%q) = %+v, %v; want %+v", tc.in, got, ok, tc.want)
		}
	}
}

func TestTargetKindString(t *testing.T) {
	for k, want := range map[TargetKind]string{KindInstance: "instance", KindManaged: "managed", KindECS: "ecs", 0: "TargetKind(0)"} {
		if got := k.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(k), got, want)
		}
	}
}

// TestResolveIDsWithoutAPI checks that ids, with or without the host
// suffix, never reach EC2: the nil API would panic if called.
func TestResolveIDsWithoutAPI(t *testing.T) {
	for in, want := range map[string]string{
		"i-0123456789abcdef0":     "i-0123456789abcdef0",
		"i-0123456789abcdef0.ssm": "i-0123456789abcdef0",
		"mi-0123456789abcdef0":    "mi-0123456789abcdef0",
	} {
		got, err := ResolveTarget(t.Context(), nil, in)
		if err != nil || got.ID != want {
			t.Errorf("ResolveTarget(%q) = %+v, %v; want id %s", in, got, err, want)
		}
	}
	r := Resolver{Suffix: ".aws"}
	if got, err := r.Resolve(t.Context(), "i-0123456789abcdef0.aws"); err != nil || got.ID != "i-0123456789abcdef0" {
		t.Errorf("custom suffix: %+v, %v", got, err)
	}
	if _, err := ResolveTarget(t.Context(), nil, "ecs:bad"); err == nil {
		t.Error("malformed ECS target resolved")
	}
	if _, err := ResolveTarget(t.Context(), nil, ""); err == nil {
		t.Error("empty name resolved")
	}
}

func TestTargetErrorMessages(t *testing.T) {
	amb := &AmbiguousTargetError{Name: "web", Candidates: []Candidate{
		{InstanceID: "i-0000000000000000a", Name: "web", PrivateIP: "10.0.0.1", State: "running"},
		{InstanceID: "i-0000000000000000b", Name: "web", State: "running"},
	}}
	want := `ssmclient: "web" matches 2 running instances, use an instance id: i-0000000000000000a (web, 10.0.0.1, running), i-0000000000000000b (web, -, running)`
	if amb.Error() != want {
		t.Errorf("got  %s\nwant %s", amb.Error(), want)
	}
	amb.More = true
	if !strings.Contains(amb.Error(), "more than 2") || !strings.HasSuffix(amb.Error(), ", ...") {
		t.Errorf("truncated list not marked: %s", amb.Error())
	}
	nf := &TargetNotFoundError{Name: "db", NotRunning: []Candidate{{InstanceID: "i-0000000000000000c", Name: "db", PrivateIP: "10.0.0.3", State: "stopped"}}}
	want = `ssmclient: no running EC2 instance has Name tag, private DNS name or private IP "db"; matching but not running: i-0000000000000000c (db, 10.0.0.3, stopped)`
	if nf.Error() != want {
		t.Errorf("got  %s\nwant %s", nf.Error(), want)
	}
}

func TestResolveTargetEmulator(t *testing.T) {
	s := newEmulator(t, ssmtest.Options{})
	c := emulatorClient(t, s)
	tests := []struct{ name, want string }{
		{"web-al2023", ssmtest.InstanceAmazonLinux},
		{"web-al2023.ssm", ssmtest.InstanceAmazonLinux},
		{"app-ubuntu.ssm", ssmtest.InstanceUbuntu},
		{"10.0.1.12", ssmtest.InstanceUbuntu},
		{"10.0.1.12.ssm", ssmtest.InstanceUbuntu},
		{"ip-10-0-1-13.ec2.internal", ssmtest.InstanceDebian},
		{"ip-10-0-1-13", ssmtest.InstanceDebian},
		{"db-rhel", ssmtest.InstanceRHEL}, // running; its agent's state is SSM's business
		{"win-2022", ssmtest.InstanceWindows},
	}
	for _, tc := range tests {
		got, err := ResolveTarget(t.Context(), c.EC2, tc.name)
		if err != nil {
			t.Errorf("ResolveTarget(%q): %v", tc.name, err)
			continue
		}
		if got.ID != tc.want || got.InstanceID != tc.want || got.Kind != KindInstance || got.Name == "" {
			t.Errorf("ResolveTarget(%q) = %+v, want instance %s with its name", tc.name, got, tc.want)
		}
	}

	// The managed node is not in EC2, and the stopped instance is not
	// running: neither resolves by name.
	_, err := ResolveTarget(t.Context(), c.EC2, "onprem-debian")
	var nf *TargetNotFoundError
	if !errors.As(err, &nf) || len(nf.NotRunning) != 0 {
		t.Errorf("onprem-debian: %v, want TargetNotFoundError without candidates", err)
	}
	_, err = ResolveTarget(t.Context(), c.EC2, "batch-suse.ssm")
	if !errors.As(err, &nf) || nf.Name != "batch-suse" || len(nf.NotRunning) != 1 ||
		nf.NotRunning[0].InstanceID != ssmtest.InstanceSUSE || nf.NotRunning[0].State != "stopped" {
		t.Fatalf("batch-suse: %v, want TargetNotFoundError naming the stopped instance", err)
	}
	if !strings.Contains(err.Error(), ssmtest.InstanceSUSE+" (batch-suse, 10.0.1.15, stopped)") {
		t.Errorf("message %q", err)
	}
	// A custom suffix, and none.
	r := Resolver{API: c.EC2, Suffix: ".internal.example"}
	if got, err := r.Resolve(t.Context(), "app-ubuntu.internal.example"); err != nil || got.ID != ssmtest.InstanceUbuntu {
		t.Errorf("custom suffix: %+v, %v", got, err)
	}
	r = Resolver{API: c.EC2}
	if _, err := r.Resolve(t.Context(), "app-ubuntu.ssm"); !errors.As(err, &nf) {
		t.Errorf("without a suffix, app-ubuntu.ssm resolved: %v", err)
	}

	// Lookups fail with the API's error when EC2 refuses.
	s.Faults().APIAccessDenied("ec2:DescribeInstances", true)
	_, err = ResolveTarget(t.Context(), c.EC2, "web-al2023")
	s.Faults().APIAccessDenied("ec2:DescribeInstances", false)
	if explained(t, err, CodeAccessDenied); !strings.Contains(err.Error(), `looking up "web-al2023"`) {
		t.Errorf("error %q does not say what was looked up", err)
	}
}

func TestResolveTargetAmbiguous(t *testing.T) {
	fleet := ssmtest.DefaultFleet()
	for i, id := range []string{"i-0000000000000000b", "i-0000000000000000a"} {
		if err := fleet.Add(ssmtest.Instance{InstanceID: id, Name: "twin", PrivateIP: fmt.Sprintf("10.0.2.%d", i+1)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := fleet.Add(ssmtest.Instance{InstanceID: "i-0000000000000000c", Name: "twin", State: "stopped"}); err != nil {
		t.Fatal(err)
	}
	for i := range 25 {
		if err := fleet.Add(ssmtest.Instance{InstanceID: fmt.Sprintf("i-%017x", 0x100+i), Name: "many"}); err != nil {
			t.Fatal(err)
		}
	}
	s := newEmulator(t, ssmtest.Options{Fleet: fleet})
	c := emulatorClient(t, s)

	_, err := ResolveTarget(t.Context(), c.EC2, "twin.ssm")
	var amb *AmbiguousTargetError
	if !errors.As(err, &amb) {
		t.Fatalf("twin: %v, want AmbiguousTargetError", err)
	}
	want := `ssmclient: "twin" matches 2 running instances, use an instance id: ` +
		`i-0000000000000000a (twin, 10.0.2.2, running), i-0000000000000000b (twin, 10.0.2.1, running)`
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}

	// More matches than are worth listing: the list is cut, and says so.
	_, err = ResolveTarget(t.Context(), c.EC2, "many")
	if !errors.As(err, &amb) || len(amb.Candidates) != maxCandidates || !amb.More {
		t.Fatalf("many: %v", err)
	}
}
