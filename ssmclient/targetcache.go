package ssmclient

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// TargetCache remembers which instance a name resolved to, so that the
// next connection to the same name makes no EC2 call. Entries are keyed
// by a scope (the region, profile and endpoint the name was looked up
// with: the same name means different instances in different accounts)
// and the name, and expire after TTL: a name can move to a new instance
// (a replaced server keeps its Name tag), and a connection through a
// stale entry to an instance that no longer runs is noticed by the caller
// (StartSession answers TargetNotConnected), which then calls Forget and
// resolves again.
//
// The file is JSON, written atomically; a missing, corrupt or unwritable
// file only costs the lookups it would have saved.
type TargetCache struct {
	// File is the cache file; "" disables the cache.
	File string
	// TTL is how long an entry is used (0: [DefaultTargetTTL]).
	TTL time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time

	mu sync.Mutex
}

// DefaultTargetTTL is how long a resolved name is trusted: long enough for
// a working session's repeated scp and ssh, short enough that a name
// moved to a new instance is followed soon even while the old one runs.
const DefaultTargetTTL = 15 * time.Minute

// DefaultTargetCacheFile is targets.json in the ssmssh directory of
// os.UserCacheDir, beside [DefaultUserCacheFile].
func DefaultTargetCacheFile() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("ssmclient: %w", err)
	}
	return filepath.Join(dir, "ssmssh", "targets.json"), nil
}

const (
	targetCacheVersion    = 1
	targetCacheMaxEntries = 1000
)

type targetCacheFile struct {
	Version int                         `json:"version"`
	Names   map[string]targetCacheEntry `json:"names"`
}

type targetCacheEntry struct {
	ID         string    `json:"id"`
	Name       string    `json:"name,omitempty"`
	InstanceID string    `json:"instance_id"`
	Saved      time.Time `json:"saved"`
}

func (c *TargetCache) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *TargetCache) ttl() time.Duration {
	if c.TTL > 0 {
		return c.TTL
	}
	return DefaultTargetTTL
}

func cacheKey(scope, name string) string { return scope + "\x00" + name }

// Lookup returns the cached target of name in scope, and its age.
func (c *TargetCache) Lookup(scope, name string) (t Target, age time.Duration, ok bool) {
	if c == nil || c.File == "" {
		return Target{}, 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.load()
	e, ok := f.Names[cacheKey(scope, name)]
	if !ok {
		return Target{}, 0, false
	}
	return Target{ID: e.ID, Name: e.Name, Kind: KindInstance, InstanceID: e.InstanceID}, c.now().Sub(e.Saved), true
}

// Store remembers that name in scope is t. Only EC2 instances found by a
// lookup are stored; ids need no cache.
func (c *TargetCache) Store(scope, name string, t Target) {
	if c == nil || c.File == "" || t.Kind != KindInstance || !instanceIDRe.MatchString(t.InstanceID) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.load()
	f.Names[cacheKey(scope, name)] = targetCacheEntry{ID: t.ID, Name: t.Name, InstanceID: t.InstanceID, Saved: c.now()}
	_ = c.save(f)
}

// Forget drops name in scope from the cache.
func (c *TargetCache) Forget(scope, name string) {
	if c == nil || c.File == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.load()
	k := cacheKey(scope, name)
	if _, ok := f.Names[k]; ok {
		delete(f.Names, k)
		_ = c.save(f)
	}
}

// load reads the file, dropping expired and malformed entries.
func (c *TargetCache) load() *targetCacheFile {
	out := &targetCacheFile{Version: targetCacheVersion, Names: make(map[string]targetCacheEntry)}
	b, err := os.ReadFile(c.File)
	if err != nil {
		return out
	}
	var disk targetCacheFile
	if json.Unmarshal(b, &disk) != nil || disk.Version != targetCacheVersion {
		return out
	}
	now := c.now()
	for k, e := range disk.Names {
		age := now.Sub(e.Saved)
		if instanceIDRe.MatchString(e.InstanceID) && e.ID == e.InstanceID && age < c.ttl() && age > -time.Minute {
			out.Names[k] = e
		}
	}
	return out
}

// save writes f atomically, keeping the newest entries.
func (c *TargetCache) save(f *targetCacheFile) error {
	if len(f.Names) > targetCacheMaxEntries {
		keys := make([]string, 0, len(f.Names))
		for k := range f.Names {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return f.Names[keys[i]].Saved.After(f.Names[keys[j]].Saved) })
		for _, k := range keys[targetCacheMaxEntries:] {
			delete(f.Names, k)
		}
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(c.File, append(b, '\n'))
}

// writeAtomic writes b to file through a temporary file and a rename,
// creating the directory (mode 0700) if needed.
func writeAtomic(file string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}
