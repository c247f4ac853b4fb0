package ssmclient

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/ssmssh/ssmssh/ssmtest"
)

// countingEC2 counts the DescribeInstances calls it passes on.
type countingEC2 struct {
	EC2DescribeInstancesAPI
	calls atomic.Int32
}

func (c *countingEC2) DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	c.calls.Add(1)
	return c.EC2DescribeInstancesAPI.DescribeInstances(ctx, in, optFns...)
}

// TestTargetCache checks that a name is looked up once, then answered
// from the cache file until its TTL passes, per scope; that Forget and a
// corrupt file make it look up again; and that ids are never stored.
func TestTargetCache(t *testing.T) {
	s := newEmulator(t, ssmtest.Options{})
	api := &countingEC2{EC2DescribeInstancesAPI: emulatorClient(t, s).EC2}
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	file := filepath.Join(t.TempDir(), "ssmssh", "targets.json")
	cache := &TargetCache{File: file, Now: func() time.Time { return now }}
	r := Resolver{API: api, Suffix: DefaultHostSuffix, Cache: cache, Scope: "eu-west-1 dev"}

	resolve := func(name string, wantCalls int32, wantCached bool) {
		t.Helper()
		before := api.calls.Load()
		got, age, err := r.ResolveCached(t.Context(), name)
		if err != nil {
			t.Fatalf("ResolveCached(%q): %v", name, err)
		}
		if got.ID != ssmtest.InstanceAmazonLinux || got.InstanceID != got.ID || got.Kind != KindInstance || got.Name != "web-al2023" {
			t.Fatalf("ResolveCached(%q) = %+v", name, got)
		}
		if calls := api.calls.Load() - before; calls != wantCalls || (age >= 0) != wantCached {
			t.Fatalf("ResolveCached(%q): %d DescribeInstances calls, cached age %v; want %d calls, cached %v", name, calls, age, wantCalls, wantCached)
		}
	}
	resolve("web-al2023", 1, false)
	resolve("web-al2023.ssm", 0, true) // the suffix is stripped before the cache
	now = now.Add(DefaultTargetTTL - time.Second)
	resolve("web-al2023", 0, true)
	now = now.Add(2 * time.Second)
	resolve("web-al2023", 1, false) // expired, looked up and stored again
	resolve("web-al2023", 0, true)

	other := r
	other.Scope = "us-east-1 prod"
	if _, age, err := other.ResolveCached(t.Context(), "web-al2023"); err != nil || age >= 0 {
		t.Fatalf("another scope answered from the cache: age %v, %v", age, err)
	}

	r.Forget("web-al2023.ssm")
	resolve("web-al2023", 1, false)

	if err := os.WriteFile(file, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	resolve("web-al2023", 1, false) // a corrupt file is an empty cache, and is rewritten
	resolve("web-al2023", 0, true)

	if _, _, err := r.ResolveCached(t.Context(), ssmtest.InstanceUbuntu); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := cache.Lookup(r.Scope, ssmtest.InstanceUbuntu); ok {
		t.Error("an instance id was stored in the cache")
	}
	fi, err := os.Stat(filepath.Dir(file))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("cache directory: %v, %v; want mode 0700", fi, err)
	}
}

// TestTargetCacheFailuresNotStored checks that a name that matches
// nothing is not cached.
func TestTargetCacheFailuresNotStored(t *testing.T) {
	s := newEmulator(t, ssmtest.Options{})
	api := &countingEC2{EC2DescribeInstancesAPI: emulatorClient(t, s).EC2}
	cache := &TargetCache{File: filepath.Join(t.TempDir(), "targets.json")}
	r := Resolver{API: api, Cache: cache, Scope: "x"}
	for range 2 {
		if _, _, err := r.ResolveCached(t.Context(), "no-such-name"); err == nil {
			t.Fatal("no-such-name resolved")
		}
	}
	if _, _, ok := cache.Lookup("x", "no-such-name"); ok {
		t.Error("a failed lookup was cached")
	}
}
