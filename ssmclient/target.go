package ssmclient

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// EC2DescribeInstancesAPI is the part of *ec2.Client that target
// resolution uses.
type EC2DescribeInstancesAPI interface {
	DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
}

var _ EC2DescribeInstancesAPI = (*ec2.Client)(nil)

// TargetKind says what a Session Manager target is.
type TargetKind int

// The kinds of target.
const (
	KindInstance TargetKind = iota + 1 // an EC2 instance, i-...
	KindManaged                        // a hybrid managed instance, mi-...
	KindECS                            // an ECS container, ecs:<cluster>_<task>_<runtime-id>
)

func (k TargetKind) String() string {
	switch k {
	case KindInstance:
		return "instance"
	case KindManaged:
		return "managed"
	case KindECS:
		return "ecs"
	}
	return fmt.Sprintf("TargetKind(%d)", int(k))
}

// Target is a resolved Session Manager target.
type Target struct {
	// ID is what StartSession takes as Target: i-..., mi-..., or
	// ecs:<cluster>_<task>_<container-runtime-id>.
	ID string
	// Name is the instance's Name tag when it was looked up, the ECS
	// cluster for ECS targets, and otherwise empty.
	Name string
	Kind TargetKind
	// InstanceID is the EC2 instance id, for DescribeInstances or EC2
	// Instance Connect; empty unless Kind is KindInstance.
	InstanceID string
}

// DefaultHostSuffix is the suffix [ResolveTarget] strips, so that an
// ssh_config block "Host *.ssm" can route web-1.ssm to the instance named
// web-1.
const DefaultHostSuffix = ".ssm"

var (
	instanceIDRe = regexp.MustCompile(`^i-[0-9a-f]{8,17}$`)
	managedIDRe  = regexp.MustCompile(`^mi-[0-9a-f]{8,17}$`)
	// ECS pieces. Cluster names are 1-255 letters, digits, hyphens and
	// underscores, so the target is split at its last two underscores.
	ecsClusterRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)
	// A task id is 32 hex digits, or a UUID for tasks of old clusters.
	ecsTaskRe = regexp.MustCompile(`^(?:[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$`)
	// A container runtime id is a 64-hex-digit Docker id on EC2, or
	// "<task id>-<digits>" on Fargate.
	ecsRuntimeRe = regexp.MustCompile(`^[0-9a-f]{12,64}(?:-[0-9]+)?$`)
)

// ParseTarget recognises s as a target id that needs no lookup: an EC2
// instance id, a managed-instance id or an ECS target. ok is false when s
// is none of these (a name to look up); err is set when s starts with
// "ecs:" but is malformed.
func ParseTarget(s string) (t Target, ok bool, err error) {
	switch {
	case instanceIDRe.MatchString(s):
		return Target{ID: s, Kind: KindInstance, InstanceID: s}, true, nil
	case managedIDRe.MatchString(s):
		return Target{ID: s, Kind: KindManaged}, true, nil
	case strings.HasPrefix(s, "ecs:"):
		cluster, err := splitECS(strings.TrimPrefix(s, "ecs:"))
		if err != nil {
			return Target{}, false, fmt.Errorf("ssmclient: invalid ECS target %q: %w (want ecs:<cluster>_<task-id>_<container-runtime-id>)", s, err)
		}
		return Target{ID: s, Name: cluster, Kind: KindECS}, true, nil
	}
	return Target{}, false, nil
}

// splitECS checks "<cluster>_<task>_<runtime-id>" and returns the cluster.
func splitECS(s string) (cluster string, err error) {
	i := strings.LastIndexByte(s, '_')
	if i < 0 {
		return "", errors.New("no underscores")
	}
	rest, runtime := s[:i], s[i+1:]
	j := strings.LastIndexByte(rest, '_')
	if j < 0 {
		return "", errors.New("only one underscore")
	}
	cluster, task := rest[:j], rest[j+1:]
	switch {
	case !ecsClusterRe.MatchString(cluster):
		return "", fmt.Errorf("bad cluster name %q", cluster)
	case !ecsTaskRe.MatchString(task):
		return "", fmt.Errorf("bad task id %q", task)
	case !ecsRuntimeRe.MatchString(runtime):
		return "", fmt.Errorf("bad container runtime id %q", runtime)
	}
	return cluster, nil
}

// ResolveTarget is [Resolver.Resolve] with [DefaultHostSuffix].
func ResolveTarget(ctx context.Context, api EC2DescribeInstancesAPI, name string) (Target, error) {
	r := Resolver{API: api, Suffix: DefaultHostSuffix}
	return r.Resolve(ctx, name)
}

// Resolver turns host names into targets.
type Resolver struct {
	API EC2DescribeInstancesAPI
	// ECS resolves ecs:<cluster>/<task>[/<container>] (see ResolveECS);
	// nil refuses that form.
	ECS ECSAPI
	// Suffix is stripped from names before anything else ("" strips
	// nothing).
	Suffix string
	// Cache, if not nil, answers names looked up before (see
	// [TargetCache]); Scope keys its entries (the region, profile and
	// endpoint of API).
	Cache *TargetCache
	Scope string
}

// maxCandidates bounds how many matches a lookup collects: beyond a few,
// the name is ambiguous anyway.
const maxCandidates = 20

// Resolve strips r.Suffix from name, returns target ids (see [ParseTarget])
// without calling AWS, resolves ecs:<cluster>/<task>[/<container>]
// through ECS DescribeTasks (r.ECS, see [ResolveECS]), and otherwise looks name up among running EC2
// instances: by private IP address when it is an IP address, else by Name
// tag, then by private DNS name (either the full name or the host part,
// such as ip-10-0-1-5). It fails with [*TargetNotFoundError] or
// [*AmbiguousTargetError] unless exactly one instance matches.
func (r *Resolver) Resolve(ctx context.Context, name string) (Target, error) {
	t, _, err := r.ResolveCached(ctx, name)
	return t, err
}

// ResolveCached is Resolve, answering from r.Cache when it holds name:
// cached is then the entry's age, and -1 when the answer did not come
// from the cache. A lookup's answer is stored in the cache.
func (r *Resolver) ResolveCached(ctx context.Context, name string) (t Target, cached time.Duration, err error) {
	name = r.trim(name)
	if name == "" {
		return Target{}, -1, errors.New("ssmclient: empty target name")
	}
	if IsECSPath(name) {
		ct, err := ResolveECS(ctx, r.ECS, name)
		if err != nil {
			return Target{}, -1, err
		}
		return Target{ID: ct.Target(), Name: ct.Cluster, Kind: KindECS}, -1, nil
	}
	if t, ok, err := ParseTarget(name); err != nil || ok {
		return t, -1, err
	}
	if t, age, ok := r.Cache.Lookup(r.Scope, name); ok {
		return t, age, nil
	}
	t, err = r.lookupName(ctx, name)
	if err == nil {
		r.Cache.Store(r.Scope, name, t)
	}
	return t, -1, err
}

// Forget drops name from r.Cache, after its cached target turned out to be
// stale.
func (r *Resolver) Forget(name string) { r.Cache.Forget(r.Scope, r.trim(name)) }

func (r *Resolver) trim(name string) string {
	if r.Suffix != "" && strings.HasSuffix(name, r.Suffix) && len(name) > len(r.Suffix) {
		name = strings.TrimSuffix(name, r.Suffix)
	}
	return name
}

// lookupName asks EC2 which running instance name is.
func (r *Resolver) lookupName(ctx context.Context, name string) (Target, error) {

	var lookups []lookup
	if ip, err := netip.ParseAddr(name); err == nil {
		lookups = []lookup{{"private-ip-address", []string{ip.String()}}}
	} else {
		lookups = []lookup{
			{"tag:Name", []string{name}},
			{"private-dns-name", []string{name, name + ".*"}},
		}
	}
	for _, l := range lookups {
		found, err := r.describe(ctx, l, true)
		if err != nil {
			return Target{}, fmt.Errorf("ssmclient: looking up %q: %w", name, err)
		}
		switch len(found) {
		case 0:
			continue
		case 1:
			c := found[0]
			return Target{ID: c.InstanceID, Name: c.Name, Kind: KindInstance, InstanceID: c.InstanceID}, nil
		default:
			e := &AmbiguousTargetError{Name: name, Candidates: found}
			if len(found) > maxCandidates {
				e.Candidates, e.More = found[:maxCandidates], true
			}
			return Target{}, e
		}
	}
	nf := &TargetNotFoundError{Name: name}
	// Say so when the name matches instances that are not running: the
	// usual reason for "not found" is a stopped instance.
	for _, l := range lookups {
		found, err := r.describe(ctx, l, false)
		if err == nil && len(found) > 0 {
			nf.NotRunning = found[:min(len(found), maxCandidates)]
			break
		}
	}
	return Target{}, nf
}

type lookup struct {
	filter string
	values []string
}

func (r *Resolver) describe(ctx context.Context, l lookup, runningOnly bool) ([]Candidate, error) {
	in := &ec2.DescribeInstancesInput{
		Filters:    []types.Filter{{Name: aws.String(l.filter), Values: l.values}},
		MaxResults: aws.Int32(maxCandidates + 1),
	}
	if runningOnly {
		in.Filters = append(in.Filters, types.Filter{Name: aws.String("instance-state-name"), Values: []string{"running"}})
	}
	var out []Candidate
	seen := make(map[string]bool)
	p := ec2.NewDescribeInstancesPaginator(r.API, in)
	for p.HasMorePages() && len(out) <= maxCandidates {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, res := range page.Reservations {
			for _, inst := range res.Instances {
				c := candidateOf(inst)
				if c.InstanceID == "" || seen[c.InstanceID] {
					continue
				}
				seen[c.InstanceID] = true
				out = append(out, c)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].InstanceID < out[j].InstanceID })
	return out, nil
}

// Candidate is an instance that matched a lookup.
type Candidate struct {
	InstanceID string
	Name       string // the Name tag
	PrivateIP  string
	State      string // running, stopped, ...
}

func (c Candidate) String() string {
	name := c.Name
	if name == "" {
		name = "-"
	}
	ip := c.PrivateIP
	if ip == "" {
		ip = "-"
	}
	return fmt.Sprintf("%s (%s, %s, %s)", c.InstanceID, name, ip, c.State)
}

func candidateOf(inst types.Instance) Candidate {
	c := Candidate{
		InstanceID: aws.ToString(inst.InstanceId),
		PrivateIP:  aws.ToString(inst.PrivateIpAddress),
	}
	if inst.State != nil {
		c.State = string(inst.State.Name)
	}
	for _, tag := range inst.Tags {
		if aws.ToString(tag.Key) == "Name" {
			c.Name = aws.ToString(tag.Value)
		}
	}
	return c
}

// TargetNotFoundError is returned when no running instance matches a name.
type TargetNotFoundError struct {
	Name string
	// NotRunning lists instances that match but are not running (at
	// most 20).
	NotRunning []Candidate
}

func (e *TargetNotFoundError) Error() string {
	msg := fmt.Sprintf("ssmclient: no running EC2 instance has Name tag, private DNS name or private IP %q", e.Name)
	if len(e.NotRunning) > 0 {
		msg += "; matching but not running: " + joinCandidates(e.NotRunning)
	}
	return msg
}

// AmbiguousTargetError is returned when several running instances match a
// name.
type AmbiguousTargetError struct {
	Name       string
	Candidates []Candidate // sorted by instance id, at most 20
	More       bool        // more instances matched than Candidates lists
}

func (e *AmbiguousTargetError) Error() string {
	n := fmt.Sprint(len(e.Candidates))
	list := joinCandidates(e.Candidates)
	if e.More {
		n = "more than " + n
		list += ", ..."
	}
	return fmt.Sprintf("ssmclient: %q matches %s running instances, use an instance id: %s", e.Name, n, list)
}

func joinCandidates(cs []Candidate) string {
	parts := make([]string, 0, len(cs))
	for _, c := range cs {
		parts = append(parts, c.String())
	}
	return strings.Join(parts, ", ")
}
