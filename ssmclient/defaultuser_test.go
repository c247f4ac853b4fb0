package ssmclient

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/ssmssh/ssmssh/ssmtest"
)

// Real AMI names, descriptions and platform details, as DescribeImages
// returns them for public images.
var amiUserTable = []struct {
	field string
	user  string // "" when the field must not be recognised
}{
	// Amazon Linux and images built on it.
	{"al2023-ami-2023.6.20241212.0-kernel-6.1-x86_64", "ec2-user"},
	{"al2023-ami-minimal-2023.2.20231113.0-kernel-6.1-arm64", "ec2-user"},
	{"amzn2-ami-kernel-5.10-hvm-2.0.20231116.0-x86_64-gp2", "ec2-user"},
	{"amzn2-ami-hvm-2.0.20231116.0-x86_64-gp2", "ec2-user"},
	{"amzn-ami-hvm-2018.03.0.20231024.0-x86_64-gp2", "ec2-user"},
	{"amzn2-ami-ecs-hvm-2.0.20231103-x86_64-ebs", "ec2-user"},
	{"amazon-eks-node-1.28-v20231116", "ec2-user"},
	{"Amazon Linux 2023 AMI 2023.6.20241212.0 x86_64 HVM kernel-6.1", "ec2-user"},
	{"Deep Learning AMI GPU PyTorch 2.1.0 (Amazon Linux 2) 20231103", "ec2-user"},
	// Red Hat.
	{"RHEL-9.4.0_HVM-20240605-x86_64-82-Hourly2-GP3", "ec2-user"},
	{"RHEL-8.8.0_HVM-20230503-arm64-54-Hourly2-GP2", "ec2-user"},
	{"Red Hat Enterprise Linux", "ec2-user"},
	{"Red Hat BYOL Linux", "ec2-user"},
	// SUSE.
	{"suse-sles-15-sp6-v20241113-hvm-ssd-x86_64", "ec2-user"},
	{"suse-sles-sap-15-sp5-v20231108-hvm-ssd-x86_64", "ec2-user"},
	{"SUSE Linux", "ec2-user"},
	{"openSUSE-Leap-15-5-v20231017-hvm-ssd-x86_64", "ec2-user"},
	// FreeBSD and AlmaLinux.
	{"FreeBSD 14.0-RELEASE-amd64-f8fb2d2f-a0ab-4a8b-9cab-4ef2ba5ae9ca", "ec2-user"},
	{"FreeBSD 13.2-RELEASE-arm64 UEFI-PREFERRED", "ec2-user"},
	{"AlmaLinux OS 9.3.20231113 x86_64-c0245a4e-2ef4-4d0c-9e63-8bb7c4bdd5ae", "ec2-user"},
	// Ubuntu.
	{"ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20241119", "ubuntu"},
	{"ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-20231030", "ubuntu"},
	{"ubuntu-minimal/images/hvm-ssd/ubuntu-focal-20.04-arm64-minimal-20231027", "ubuntu"},
	{"ubuntu-pro-server/images/hvm-ssd/ubuntu-jammy-22.04-amd64-pro-server-20231030", "ubuntu"},
	{"Canonical, Ubuntu, 24.04, amd64 noble image", "ubuntu"},
	{"Deep Learning OSS Nvidia Driver AMI GPU PyTorch 2.1.0 (Ubuntu 20.04) 20231103", "ubuntu"},
	{"Ubuntu Pro", "ubuntu"},
	// Debian.
	{"debian-12-amd64-20241201-1948", "admin"},
	{"debian-11-arm64-20231013-1532", "admin"},
	{"Debian 12 (20241201-1948)", "admin"},
	// CentOS, Fedora, Rocky.
	{"CentOS-7-2111-20220825_1.x86_64-d9a3032a-921c-4c6d-b150-bde168105e42", "centos"},
	{"CentOS Stream 9 x86_64 20231113", "centos"},
	{"Fedora-Cloud-Base-39-1.5.x86_64-hvm-us-east-1-gp3-0", "fedora"},
	{"Rocky-9-EC2-Base-9.3-20231113.0.x86_64", "rocky"},
	{"Rocky-8-EC2-LVM-8.9-20231119.0.aarch64", "rocky"},
	// Bitnami images are built on Debian but log in as bitnami.
	{"bitnami-wordpress-6.4.1-0-r02-linux-debian-11-x86_64-hvm-ebs-nami", "bitnami"},
	{"bitnami-nginx-1.25.3-0-r03-linux-debian-11-x86_64-hvm-ebs-nami", "bitnami"},
	// Windows.
	{"Windows_Server-2022-English-Full-Base-2024.11.13", "Administrator"},
	{"Windows_Server-2019-English-Full-SQL_2019_Standard-2023.11.15", "Administrator"},
	{"Windows", "Administrator"},
	{"Windows with SQL Server Standard", "Administrator"},
	{"windows", "Administrator"}, // the Platform field
	// Not recognised.
	{"Linux/UNIX", ""},
	{"my-golden-image-2024-11-01", ""},
	{"Provided by Red Hatters", ""}, // words must match whole
	{"bundles-of-joy", ""},
	{"", ""},
}

func TestUserForImage(t *testing.T) {
	for _, tc := range amiUserTable {
		user, distro, ok := UserForImage(tc.field)
		if tc.user == "" {
			if ok {
				t.Errorf("UserForImage(%q) = %q (%s), want not recognised", tc.field, user, distro)
			}
			continue
		}
		if !ok || user != tc.user {
			t.Errorf("UserForImage(%q) = %q, %v; want %q", tc.field, user, ok, tc.user)
		}
		if ok && distro == "" {
			t.Errorf("UserForImage(%q): empty distribution name", tc.field)
		}
	}
}

func TestUserCacheTolerant(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	dir := t.TempDir()
	file := filepath.Join(dir, "sub", "cache.json")

	// Missing file: empty.
	if c := loadUserCache(file, now); len(c.Instances) != 0 {
		t.Fatalf("missing file gave %v", c.Instances)
	}
	// Corrupt file: empty, and save replaces it.
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, corrupt := range []string{"{not json", `{"version":1,"instances":[1,2]}`, `{"version":99,"instances":{}}`, "\x00\x01"} {
		if err := os.WriteFile(file, []byte(corrupt), 0o600); err != nil {
			t.Fatal(err)
		}
		if c := loadUserCache(file, now); len(c.Instances) != 0 {
			t.Fatalf("corrupt file %q gave %v", corrupt, c.Instances)
		}
	}
	c := loadUserCache(file, now)
	c.Instances["i-0123456789abcdef0"] = userCacheEntry{User: "ubuntu", Source: "s", Saved: now}
	c.Instances["i-0123456789abcdef1"] = userCacheEntry{User: "admin", Source: "s", Saved: now.Add(-userCacheTTL - time.Hour)}
	c.Instances["not-an-id"] = userCacheEntry{User: "x", Source: "s", Saved: now}
	if err := c.save(file); err != nil {
		t.Fatal(err)
	}
	got := loadUserCache(file, now)
	if len(got.Instances) != 1 || got.Instances["i-0123456789abcdef0"].User != "ubuntu" {
		t.Fatalf("reloaded cache = %v, want only the fresh valid entry", got.Instances)
	}
	// No temporary files left behind.
	entries, _ := os.ReadDir(filepath.Dir(file))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".default-users-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func TestUserCacheBounded(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	file := filepath.Join(t.TempDir(), "cache.json")
	c := loadUserCache(file, now)
	for i := range userCacheMaxEntries + 10 {
		id := fmt.Sprintf("i-000000000%08x", i)
		c.Instances[id] = userCacheEntry{User: "ec2-user", Source: "s", Saved: now.Add(-time.Duration(i) * time.Minute)}
	}
	if err := c.save(file); err != nil {
		t.Fatal(err)
	}
	got := loadUserCache(file, now)
	if len(got.Instances) != userCacheMaxEntries {
		t.Fatalf("cache kept %d entries, want %d", len(got.Instances), userCacheMaxEntries)
	}
	if _, ok := got.Instances["i-00000000000000000"]; !ok {
		t.Error("newest entry was dropped")
	}
	if _, ok := got.Instances[fmt.Sprintf("i-000000000%08x", userCacheMaxEntries+9)]; ok {
		t.Error("oldest entry was kept")
	}
}

func TestDefaultUserEmulator(t *testing.T) {
	fleet := ssmtest.DefaultFleet()
	const golden, dereg = "i-0000000000000000d", "i-0000000000000000e"
	if err := fleet.Add(ssmtest.Instance{InstanceID: golden, Name: "golden",
		Image: ssmtest.Image{Name: "my-golden-image-2024-11-01", Description: "built by ops"}}); err != nil {
		t.Fatal(err)
	}
	if err := fleet.Add(ssmtest.Instance{InstanceID: dereg, Name: "old-windows", PlatformType: "Windows",
		Image: ssmtest.Image{Name: "Windows_Server-2016-English-Full-Base-2019.01.10"}}); err != nil {
		t.Fatal(err)
	}
	s := newEmulator(t, ssmtest.Options{Fleet: fleet})
	c := emulatorClient(t, s)
	cache := filepath.Join(t.TempDir(), "ssmssh", "default-users.json")
	g := &UserGuesser{API: c.EC2, CacheFile: cache}

	tests := []struct {
		id, user, source string
	}{
		{ssmtest.InstanceAmazonLinux, "ec2-user", `"al2023-ami-2023.6.20241212.0-kernel-6.1-x86_64" is Amazon Linux`},
		{ssmtest.InstanceUbuntu, "ubuntu", "is Ubuntu"},
		{ssmtest.InstanceDebian, "admin", "is Debian"},
		{ssmtest.InstanceRHEL, "ec2-user", "is Red Hat Enterprise Linux"},
		{ssmtest.InstanceSUSE, "ec2-user", "is SUSE Linux"},
		{ssmtest.InstanceWindows, "Administrator", "is Windows"},
		{golden, "ec2-user", `guess: AMI ami-`},
	}
	for _, tc := range tests {
		user, source, err := g.DefaultUser(t.Context(), tc.id)
		if err != nil || user != tc.user || !strings.Contains(source, tc.source) {
			t.Errorf("DefaultUser(%s) = %q, %q, %v; want %q and a source containing %q", tc.id, user, source, err, tc.user, tc.source)
		}
		if strings.HasSuffix(source, "(cached)") {
			t.Errorf("DefaultUser(%s): first answer came from the cache", tc.id)
		}
	}

	// Answers now come from the cache: EC2 is not asked again (it would
	// refuse).
	s.Faults().APIAccessDenied("ec2:DescribeInstances", true)
	for _, tc := range tests {
		user, source, err := g.DefaultUser(t.Context(), tc.id)
		if err != nil || user != tc.user || !strings.HasSuffix(source, " (cached)") {
			t.Errorf("cached DefaultUser(%s) = %q, %q, %v", tc.id, user, source, err)
		}
	}
	// A new guesser with the same file (another process) reads it.
	g2 := &UserGuesser{API: c.EC2, CacheFile: cache}
	if user, _, err := g2.DefaultUser(t.Context(), ssmtest.InstanceUbuntu); err != nil || user != "ubuntu" {
		t.Errorf("from the cache file: %q, %v", user, err)
	}
	// Without a cache EC2 is asked, and its refusal is returned.
	nocache := &UserGuesser{API: c.EC2}
	_, _, err := nocache.DefaultUser(t.Context(), ssmtest.InstanceUbuntu)
	explained(t, err, CodeAccessDenied)
	s.Faults().APIAccessDenied("ec2:DescribeInstances", false)

	// An AMI that can no longer be described: the instance's platform
	// decides.
	gone := &UserGuesser{API: deregisteredAMI{c.EC2}}
	user, source, err := gone.DefaultUser(t.Context(), dereg)
	if err != nil || user != "Administrator" || !strings.Contains(source, "no longer available") || !strings.Contains(source, `platform "Windows"`) {
		t.Errorf("deregistered Windows AMI: %q, %q, %v", user, source, err)
	}
	user, source, err = gone.DefaultUser(t.Context(), ssmtest.InstanceDebian)
	if err != nil || user != "ec2-user" || !strings.HasPrefix(source, "guess: ") || !strings.Contains(source, "Linux/UNIX") {
		t.Errorf("deregistered Linux AMI: %q, %q, %v", user, source, err)
	}

	// Not allowed to describe images: fall back, but do not cache.
	denied := &UserGuesser{API: c.EC2, CacheFile: filepath.Join(t.TempDir(), "c.json")}
	s.Faults().APIAccessDenied("ec2:DescribeImages", true)
	user, source, err = denied.DefaultUser(t.Context(), ssmtest.InstanceRHEL)
	s.Faults().APIAccessDenied("ec2:DescribeImages", false)
	if err != nil || user != "ec2-user" || !strings.Contains(source, "not allowed to describe AMI") || !strings.Contains(source, "Red Hat") {
		t.Errorf("DescribeImages denied: %q, %q, %v", user, source, err)
	}
	if _, source, _ = denied.DefaultUser(t.Context(), ssmtest.InstanceRHEL); strings.HasSuffix(source, "(cached)") {
		t.Error("an answer given without the AMI was cached")
	}

	// Errors: not an EC2 instance, unknown instance.
	if _, _, err := g.DefaultUser(t.Context(), ssmtest.ManagedNodeOnPrem); err == nil {
		t.Error("managed node accepted")
	}
	_, _, err = g.DefaultUser(t.Context(), "i-0000000000000dead")
	explained(t, err, CodeInstanceNotFound)
}

// TestDefaultUserCorruptCache: a damaged cache file is ignored and
// replaced by a good one.
func TestDefaultUserCorruptCache(t *testing.T) {
	s := newEmulator(t, ssmtest.Options{})
	c := emulatorClient(t, s)
	cache := filepath.Join(t.TempDir(), "default-users.json")
	if err := os.WriteFile(cache, []byte(`{"version":1,"instances":{"i-0a1b2c3d4e5f00002":`), 0o600); err != nil {
		t.Fatal(err)
	}
	g := &UserGuesser{API: c.EC2, CacheFile: cache}
	user, source, err := g.DefaultUser(t.Context(), ssmtest.InstanceUbuntu)
	if err != nil || user != "ubuntu" || strings.HasSuffix(source, "(cached)") {
		t.Fatalf("with a corrupt cache: %q, %q, %v", user, source, err)
	}
	b, err := os.ReadFile(cache)
	if err != nil {
		t.Fatal(err)
	}
	var disk userCache
	if err := json.Unmarshal(b, &disk); err != nil || disk.Instances[ssmtest.InstanceUbuntu].User != "ubuntu" {
		t.Fatalf("cache not rewritten: %s (%v)", b, err)
	}
}

// deregisteredAMI passes calls to the emulator's EC2 but reports every
// instance as launched from an AMI that no longer exists, so DescribeImages
// answers InvalidAMIID.NotFound as AWS does for a deregistered image.
type deregisteredAMI struct{ EC2ImageAPI }

func (d deregisteredAMI) DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	out, err := d.EC2ImageAPI.DescribeInstances(ctx, in, optFns...)
	if err != nil {
		return nil, err
	}
	for _, r := range out.Reservations {
		for i := range r.Instances {
			r.Instances[i].ImageId = aws.String("ami-00000000000dead00")
		}
	}
	return out, nil
}
