package ssmclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"
)

// EC2DescribeImagesAPI is the part of *ec2.Client that reads AMIs.
type EC2DescribeImagesAPI interface {
	DescribeImages(ctx context.Context, in *ec2.DescribeImagesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error)
}

// EC2ImageAPI is the part of *ec2.Client that [DefaultUser] uses.
type EC2ImageAPI interface {
	EC2DescribeInstancesAPI
	EC2DescribeImagesAPI
}

var _ EC2ImageAPI = (*ec2.Client)(nil)

// FallbackUser is the user [DefaultUser] guesses when the AMI is not
// recognised: the default of Amazon Linux and of most other images.
const FallbackUser = "ec2-user"

// DefaultUser is [UserGuesser.DefaultUser] with the cache in
// [DefaultUserCacheFile] (no cache if there is no user cache directory).
func DefaultUser(ctx context.Context, api EC2ImageAPI, instanceID string) (user, source string, err error) {
	file, _ := DefaultUserCacheFile()
	g := UserGuesser{API: api, CacheFile: file}
	return g.DefaultUser(ctx, instanceID)
}

// UserGuesser finds the default login user of EC2 instances from their
// AMIs, remembering the answers in a cache file.
type UserGuesser struct {
	API EC2ImageAPI
	// CacheFile is the JSON cache of answers per instance id; "" means no
	// cache. A missing or corrupt file is treated as empty and rewritten.
	CacheFile string
	// Now returns the current time (for cache ages); nil means time.Now.
	Now func() time.Time
}

// DefaultUser returns the login user the AMI of instanceID creates, and a
// one-line account of how it was decided (which AMI, which distribution,
// whether it is a guess, whether it came from the cache).
//
// It calls DescribeInstances for the instance's image and DescribeImages
// for the image, and maps the AMI's name, then description, then platform
// details through [UserForImage]. When the AMI can no longer be described
// (deregistered, or not visible to the caller) it maps the instance's
// platform details instead. When nothing is recognised the user is
// [FallbackUser] and source says it is a guess.
func (g *UserGuesser) DefaultUser(ctx context.Context, instanceID string) (user, source string, err error) {
	if !instanceIDRe.MatchString(instanceID) {
		return "", "", fmt.Errorf("ssmclient: default user: %q is not an EC2 instance id", instanceID)
	}
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	cache := loadUserCache(g.CacheFile, now())
	if e, ok := cache.Instances[instanceID]; ok {
		return e.User, e.Source + " (cached)", nil
	}

	user, source, cacheable, err := g.lookup(ctx, instanceID)
	if err != nil {
		return "", "", err
	}
	if cacheable && g.CacheFile != "" {
		cache.Instances[instanceID] = userCacheEntry{User: user, Source: source, Saved: now()}
		// The cache only saves API calls: failing to write it is not
		// worth failing the connection for.
		_ = cache.save(g.CacheFile)
	}
	return user, source, nil
}

// lookup asks EC2. cacheable is false when the answer rests on a failure
// that may pass (the caller may not describe images).
func (g *UserGuesser) lookup(ctx context.Context, instanceID string) (user, source string, cacheable bool, err error) {
	out, err := g.API.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{instanceID}})
	if err != nil {
		return "", "", false, fmt.Errorf("ssmclient: default user of %s: %w", instanceID, err)
	}
	var platformDetails, platform, imageID string
	found := false
	for _, r := range out.Reservations {
		for _, inst := range r.Instances {
			if aws.ToString(inst.InstanceId) == instanceID {
				found = true
				platformDetails = aws.ToString(inst.PlatformDetails)
				platform = string(inst.Platform)
				imageID = aws.ToString(inst.ImageId)
			}
		}
	}
	if !found {
		return "", "", false, fmt.Errorf("ssmclient: default user of %s: DescribeInstances did not return the instance", instanceID)
	}

	why, cacheable := "", true
	if imageID != "" {
		img, err := g.API.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{imageID}})
		var apiErr smithy.APIError
		switch {
		case err == nil && len(img.Images) > 0:
			im := img.Images[0]
			name, desc := aws.ToString(im.Name), aws.ToString(im.Description)
			for _, field := range []string{name, desc, aws.ToString(im.PlatformDetails), string(im.Platform)} {
				if u, distro, ok := UserForImage(field); ok {
					return u, fmt.Sprintf("AMI %s %q is %s", imageID, name, distro), true, nil
				}
			}
			return FallbackUser, fmt.Sprintf("guess: AMI %s %q is not a distribution I know; %s is the most common default", imageID, name, FallbackUser), true, nil
		case err == nil:
			why = fmt.Sprintf("AMI %s is no longer available", imageID)
		case errors.As(err, &apiErr) && strings.HasPrefix(apiErr.ErrorCode(), "InvalidAMIID."):
			why = fmt.Sprintf("AMI %s is no longer available (%s)", imageID, apiErr.ErrorCode())
		case errors.As(err, &apiErr) && apiErr.ErrorCode() == "UnauthorizedOperation":
			why = fmt.Sprintf("not allowed to describe AMI %s", imageID)
			cacheable = false
		default:
			return "", "", false, fmt.Errorf("ssmclient: default user of %s: %w", instanceID, err)
		}
	} else {
		why = "the instance has no AMI id"
	}
	for _, field := range []string{platformDetails, platform} {
		if u, distro, ok := UserForImage(field); ok {
			return u, fmt.Sprintf("%s; instance platform %q is %s", why, platformDetails, distro), cacheable, nil
		}
	}
	return FallbackUser, fmt.Sprintf("guess: %s and instance platform %q names no distribution; %s is the most common default", why, platformDetails, FallbackUser), cacheable, nil
}

// userRule maps a distribution, recognised by the words of an AMI's name,
// description or platform, to its default user.
type userRule struct {
	distro string
	user   string
	match  func(words []string) bool
}

var al20xx = regexp.MustCompile(`^al20[0-9][0-9]$`)

// userRules are tried in order; Bitnami images are built on Debian and
// Ubuntu, so Bitnami comes first, and Ubuntu precedes Debian.
var userRules = []userRule{
	{"Bitnami", "bitnami", hasWord("bitnami")},
	{"Windows", "Administrator", hasWord("windows")},
	{"Ubuntu", "ubuntu", hasWord("ubuntu")},
	{"Debian", "admin", hasWord("debian")},
	{"CentOS", "centos", hasWord("centos")},
	{"Fedora", "fedora", hasWord("fedora")},
	{"Rocky Linux", "rocky", hasWord("rocky")},
	{"AlmaLinux", "ec2-user", hasWord("almalinux")},
	{"Red Hat Enterprise Linux", "ec2-user", anyOf(hasWord("rhel"), hasPhrase("red", "hat"))},
	{"SUSE Linux", "ec2-user", hasWord("suse", "sles", "opensuse")},
	{"FreeBSD", "ec2-user", hasWord("freebsd")},
	{"Amazon Linux", "ec2-user", anyOf(
		hasPrefix("amzn"),
		func(ws []string) bool { return hasWord("al2")(ws) || anyWord(ws, al20xx.MatchString) },
		hasPhrase("amazon", "linux"),
		hasPhrase("amazon", "eks"),
	)},
}

// UserForImage maps one AMI field (a name such as
// "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-20240301", a
// description, or platform details such as "Red Hat Enterprise Linux") to
// the default user and the distribution's name. ok is false when the field
// names no distribution it knows.
func UserForImage(field string) (user, distro string, ok bool) {
	words := strings.FieldsFunc(strings.ToLower(field), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	for _, r := range userRules {
		if r.match(words) {
			return r.user, r.distro, true
		}
	}
	return "", "", false
}

func hasWord(want ...string) func([]string) bool {
	return func(words []string) bool {
		return anyWord(words, func(w string) bool {
			for _, x := range want {
				if w == x {
					return true
				}
			}
			return false
		})
	}
}

func hasPrefix(p string) func([]string) bool {
	return func(words []string) bool {
		return anyWord(words, func(w string) bool { return strings.HasPrefix(w, p) })
	}
}

func hasPhrase(first, second string) func([]string) bool {
	return func(words []string) bool {
		for i := 0; i+1 < len(words); i++ {
			if words[i] == first && words[i+1] == second {
				return true
			}
		}
		return false
	}
}

func anyOf(fs ...func([]string) bool) func([]string) bool {
	return func(words []string) bool {
		for _, f := range fs {
			if f(words) {
				return true
			}
		}
		return false
	}
}

func anyWord(words []string, f func(string) bool) bool {
	for _, w := range words {
		if f(w) {
			return true
		}
	}
	return false
}

// DefaultUserCacheFile returns the default cache file of [DefaultUser]:
// default-users.json in the ssmssh directory of os.UserCacheDir.
func DefaultUserCacheFile() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("ssmclient: %w", err)
	}
	return filepath.Join(dir, "ssmssh", "default-users.json"), nil
}

// Cache limits: an instance keeps its AMI for life, so entries expire only
// to keep the file small.
const (
	userCacheTTL        = 90 * 24 * time.Hour
	userCacheMaxEntries = 1000
	userCacheVersion    = 1
)

type userCache struct {
	Version   int                       `json:"version"`
	Instances map[string]userCacheEntry `json:"instances"`
}

type userCacheEntry struct {
	User   string    `json:"user"`
	Source string    `json:"source"`
	Saved  time.Time `json:"saved"`
}

// loadUserCache reads the cache, dropping expired and malformed entries.
// Any problem reading it yields an empty cache.
func loadUserCache(file string, now time.Time) *userCache {
	c := &userCache{Version: userCacheVersion, Instances: make(map[string]userCacheEntry)}
	if file == "" {
		return c
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return c
	}
	var disk userCache
	if json.Unmarshal(b, &disk) != nil || disk.Version != userCacheVersion {
		return c
	}
	for id, e := range disk.Instances {
		if instanceIDRe.MatchString(id) && e.User != "" && now.Sub(e.Saved) < userCacheTTL && !e.Saved.After(now.Add(time.Hour)) {
			c.Instances[id] = e
		}
	}
	return c
}

// save writes the cache atomically (temporary file, then rename), keeping
// the newest entries when there are too many.
func (c *userCache) save(file string) error {
	if len(c.Instances) > userCacheMaxEntries {
		ids := make([]string, 0, len(c.Instances))
		for id := range c.Instances {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return c.Instances[ids[i]].Saved.After(c.Instances[ids[j]].Saved) })
		for _, id := range ids[userCacheMaxEntries:] {
			delete(c.Instances, id)
		}
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".default-users-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}
