package ssmclient

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
