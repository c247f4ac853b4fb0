package ssmtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// BuiltinSSH as the target of an instance port means the built-in SSH
// server rather than a loopback address.
const BuiltinSSH = "builtin-ssh"

// DefaultAgentVersion is the agent version instances report when the fleet
// does not say.
const DefaultAgentVersion = "3.3.1142.0"

// EC2 instance states and SSM ping statuses used by the fleet.
const (
	StateRunning = "running"
	StateStopped = "stopped"

	PingOnline         = "Online"
	PingConnectionLost = "ConnectionLost"
	PingInactive       = "Inactive"
)

// Instance is one machine of the emulated fleet: an EC2 instance (id i-…)
// or a hybrid managed node (id mi-…, unknown to EC2).
type Instance struct {
	InstanceID string `json:"InstanceId"`
	// Name is the Name tag; Tags holds the other tags.
	Name string            `json:"Name,omitempty"`
	Tags map[string]string `json:"Tags,omitempty"`
	// State is the EC2 state (default running). Managed nodes are always
	// running.
	State string `json:"State,omitempty"`
	// PingStatus is what SSM reports for the agent: Online (default),
	// ConnectionLost (default for stopped instances) or Inactive. Only
	// Online instances accept sessions.
	PingStatus      string `json:"PingStatus,omitempty"`
	AgentVersion    string `json:"AgentVersion,omitempty"`
	PlatformType    string `json:"PlatformType,omitempty"` // Linux (default), Windows, MacOS
	PlatformName    string `json:"PlatformName,omitempty"`
	PlatformVersion string `json:"PlatformVersion,omitempty"`
	Image           Image  `json:"Image"`
	InstanceType    string `json:"InstanceType,omitempty"`
	// AvailabilityZone defaults to the server's region with suffix "a".
	AvailabilityZone string `json:"AvailabilityZone,omitempty"`
	PrivateIP        string `json:"PrivateIpAddress,omitempty"`
	// PrivateDNSName defaults to ip-a-b-c-d.ec2.internal.
	PrivateDNSName string    `json:"PrivateDnsName,omitempty"`
	LaunchTime     time.Time `json:"LaunchTime,omitzero"`
	// Ports maps an instance port number ("22") to what a connection to
	// localhost:<port> on the instance reaches: a loopback "host:port" or
	// BuiltinSSH.
	Ports map[string]string `json:"Ports,omitempty"`
	// RemoteHosts maps "host:port" as seen from the instance (for
	// AWS-StartPortForwardingSessionToRemoteHost) to a loopback address.
	RemoteHosts map[string]string `json:"RemoteHosts,omitempty"`
	// Users are the OS users that exist on the instance (RunAs users,
	// EC2 Instance Connect users).
	Users []string `json:"Users,omitempty"`
	// KMSUnreachable cuts the instance off from the KMS endpoint: its
	// agent's KMS calls hang, so encrypted sessions fail the handshake as
	// the real agent does ("Handshake timed out…").
	KMSUnreachable bool `json:"KMSUnreachable,omitempty"`
	// ExternalAgent marks an instance served by an agent of its own, such
	// as a real amazon-ssm-agent with this instance id as its identity: no
	// built-in agent starts for it, its ports are whatever that agent
	// reaches, and it is Online only while that agent is connected.
	ExternalAgent bool `json:"ExternalAgent,omitempty"`
	// Unmanaged makes an EC2 instance unknown to SSM, as one whose agent
	// never registered (no agent, no instance profile, no route to the
	// SSM endpoints): DescribeInstanceInformation does not list it,
	// StartSession answers TargetNotConnected, and no built-in agent runs.
	Unmanaged bool `json:"Unmanaged,omitempty"`
}

// Image is the AMI an instance was launched from.
type Image struct {
	ImageID         string `json:"ImageId,omitempty"` // default derived from Name
	Name            string `json:"Name,omitempty"`
	Description     string `json:"Description,omitempty"`
	PlatformDetails string `json:"PlatformDetails,omitempty"` // default Linux/UNIX or Windows
	Architecture    string `json:"Architecture,omitempty"`    // default x86_64
}

// KMSKey is a symmetric KMS key the emulator knows.
type KMSKey struct {
	KeyID       string   `json:"KeyId"` // a UUID
	Aliases     []string `json:"Aliases,omitempty"`
	Description string   `json:"Description,omitempty"`
	// KeyState is Enabled (default), Disabled or PendingDeletion, as
	// DescribeKey reports it; only Enabled keys encrypt and decrypt. A
	// deleted key is one the fleet does not list.
	KeyState string `json:"KeyState,omitempty"`
}

// IsManagedNode reports whether the instance is a hybrid managed node
// (mi-…), which EC2 does not know.
func (in *Instance) IsManagedNode() bool { return strings.HasPrefix(in.InstanceID, "mi-") }

// PortTarget returns what localhost:<port> on the instance leads to.
func (in *Instance) PortTarget(port string) (string, bool) {
	t, ok := in.Ports[port]
	return t, ok
}

// RemoteHostTarget returns the loopback address standing in for hostPort.
func (in *Instance) RemoteHostTarget(hostPort string) (string, bool) {
	t, ok := in.RemoteHosts[hostPort]
	return t, ok
}

// HasUser reports whether an OS user exists on the instance.
func (in *Instance) HasUser(name string) bool { return slices.Contains(in.Users, name) }

func (in *Instance) clone() Instance {
	c := *in
	c.Tags = maps.Clone(in.Tags)
	c.Ports = maps.Clone(in.Ports)
	c.RemoteHosts = maps.Clone(in.RemoteHosts)
	c.Users = slices.Clone(in.Users)
	return c
}

// Fleet is the set of instances and KMS keys the emulator serves. It is
// safe for concurrent use: tests may change it while the server runs.
type Fleet struct {
	mu         sync.RWMutex
	instances  []*Instance
	keys       []KMSKey
	principals []Principal
	clusters   []*ECSCluster
	// containers stand in for the clusters' containers (ecsfleet.go).
	containers []*Instance
}

// fleetJSON is the file format of LoadFleet and ParseFleet.
type fleetJSON struct {
	Instances   []Instance   `json:"Instances"`
	KMSKeys     []KMSKey     `json:"KMSKeys,omitempty"`
	Principals  []Principal  `json:"Principals,omitempty"`
	ECSClusters []ECSCluster `json:"ECSClusters,omitempty"`
}

// NewFleet checks instances and keys, fills in defaults and returns a
// fleet holding copies of them.
func NewFleet(instances []Instance, keys []KMSKey) (*Fleet, error) {
	f := &Fleet{}
	for _, in := range instances {
		if err := f.Add(in); err != nil {
			return nil, err
		}
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if !uuidPattern.MatchString(k.KeyID) {
			return nil, fmt.Errorf("ssmtest: fleet: KMS key id %q is not a UUID", k.KeyID)
		}
		for _, name := range append([]string{k.KeyID}, k.Aliases...) {
			if name != k.KeyID && !strings.HasPrefix(name, "alias/") {
				return nil, fmt.Errorf("ssmtest: fleet: KMS alias %q must start with alias/", name)
			}
			if seen[name] {
				return nil, fmt.Errorf("ssmtest: fleet: KMS key or alias %q defined twice", name)
			}
			seen[name] = true
		}
		if k.KeyState == "" {
			k.KeyState = KeyEnabled
		}
		if !slices.Contains(keyStates, k.KeyState) {
			return nil, fmt.Errorf("ssmtest: fleet: KMS key %s: unknown key state %q", k.KeyID, k.KeyState)
		}
		k.Aliases = slices.Clone(k.Aliases)
		f.keys = append(f.keys, k)
	}
	return f, nil
}

// ParseFleet reads a fleet from JSON:
// {"Instances":[…],"KMSKeys":[…],"Principals":[…],"ECSClusters":[…]},
// with fields named as in Instance, KMSKey, Principal and ECSCluster.
// Unknown fields are errors.
func ParseFleet(data []byte) (*Fleet, error) {
	var fj fleetJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fj); err != nil {
		return nil, fmt.Errorf("ssmtest: parse fleet: %w", err)
	}
	f, err := NewFleet(fj.Instances, fj.KMSKeys)
	if err != nil {
		return nil, err
	}
	for _, p := range fj.Principals {
		if err := f.SetPrincipal(p); err != nil {
			return nil, err
		}
	}
	for _, c := range fj.ECSClusters {
		if err := f.AddECSCluster(c); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// LoadFleet reads a fleet from a JSON file (see ParseFleet).
func LoadFleet(path string) (*Fleet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ssmtest: load fleet: %w", err)
	}
	f, err := ParseFleet(data)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return f, nil
}

// MarshalJSON writes the fleet in the format ParseFleet reads.
func (f *Fleet) MarshalJSON() ([]byte, error) {
	return json.Marshal(fleetJSON{Instances: f.Instances(), KMSKeys: f.KMSKeys(), Principals: f.Principals(), ECSClusters: f.ECSClusters()})
}

// Instance returns a copy of the instance with the given id.
func (f *Fleet) Instance(id string) (Instance, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if in := f.find(id); in != nil {
		return in.clone(), true
	}
	return Instance{}, false
}

// Instances returns copies of all instances, in fleet order.
func (f *Fleet) Instances() []Instance {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]Instance, 0, len(f.instances))
	for _, in := range f.instances {
		out = append(out, in.clone())
	}
	return out
}

// KMSKeys returns copies of the fleet's KMS keys.
func (f *Fleet) KMSKeys() []KMSKey {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]KMSKey, 0, len(f.keys))
	for _, k := range f.keys {
		k.Aliases = slices.Clone(k.Aliases)
		out = append(out, k)
	}
	return out
}

// Add checks an instance, fills in its defaults and adds a copy.
func (f *Fleet) Add(in Instance) error {
	if in.IsECSContainer() {
		return fmt.Errorf("ssmtest: fleet: %s: ECS containers come with their cluster (AddECSCluster)", in.InstanceID)
	}
	c := in.clone()
	if err := normalizeInstance(&c); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.find(c.InstanceID) != nil {
		return fmt.Errorf("ssmtest: fleet: instance %s defined twice", c.InstanceID)
	}
	f.instances = append(f.instances, &c)
	return nil
}

// Remove deletes an instance; it reports whether it existed.
func (f *Fleet) Remove(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.instances)
	f.instances = slices.DeleteFunc(f.instances, func(in *Instance) bool { return in.InstanceID == id })
	return len(f.instances) != n
}

// ErrNoSuchInstance is returned by Fleet methods for unknown instance ids.
var ErrNoSuchInstance = errors.New("ssmtest: no such instance")

// Update changes an instance: change receives a copy, which is checked and
// stored if change returns. The instance id cannot be changed.
func (f *Fleet) Update(id string, change func(*Instance)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	in := f.find(id)
	if in == nil {
		return fmt.Errorf("%w: %s", ErrNoSuchInstance, id)
	}
	c := in.clone()
	change(&c)
	if c.InstanceID != id {
		return fmt.Errorf("ssmtest: fleet: cannot change instance id %s", id)
	}
	if err := normalizeInstance(&c); err != nil {
		return err
	}
	*in = c
	return nil
}

// SetState sets an instance's EC2 state. Stopping an instance also loses
// its agent (ConnectionLost); starting it brings the agent back Online.
func (f *Fleet) SetState(id, state string) error {
	return f.Update(id, func(in *Instance) {
		in.State = state
		if state == StateRunning {
			in.PingStatus = PingOnline
		} else {
			in.PingStatus = PingConnectionLost
		}
	})
}

// SetPingStatus sets the agent status SSM reports for an instance.
func (f *Fleet) SetPingStatus(id, status string) error {
	return f.Update(id, func(in *Instance) { in.PingStatus = status })
}

// SetPort maps an instance port to a loopback address or BuiltinSSH; an
// empty target removes the mapping.
func (f *Fleet) SetPort(id, port, target string) error {
	return f.Update(id, func(in *Instance) { in.Ports = setOrDelete(in.Ports, port, target) })
}

// SetRemoteHost maps a remote "host:port" seen from the instance to a
// loopback address; an empty target removes the mapping.
func (f *Fleet) SetRemoteHost(id, hostPort, target string) error {
	return f.Update(id, func(in *Instance) { in.RemoteHosts = setOrDelete(in.RemoteHosts, hostPort, target) })
}

func setOrDelete(m map[string]string, k, v string) map[string]string {
	if v == "" {
		delete(m, k)
		return m
	}
	if m == nil {
		m = make(map[string]string)
	}
	m[k] = v
	return m
}

// find returns the instance or ECS container with the id.
func (f *Fleet) find(id string) *Instance {
	for _, in := range f.instances {
		if in.InstanceID == id {
			return in
		}
	}
	for _, in := range f.containers {
		if in.InstanceID == id {
			return in
		}
	}
	return nil
}

var (
	ec2IDPattern     = regexp.MustCompile(`^i-([0-9a-f]{8}|[0-9a-f]{17})$`)
	managedIDPattern = regexp.MustCompile(`^mi-[0-9a-f]{17}$`)
	amiPattern       = regexp.MustCompile(`^ami-([0-9a-f]{8}|[0-9a-f]{17})$`)
	uuidPattern      = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

	ec2States     = []string{"pending", StateRunning, "shutting-down", "terminated", "stopping", StateStopped}
	pingStatuses  = []string{PingOnline, PingConnectionLost, PingInactive}
	platformTypes = []string{"Linux", "Windows", "MacOS"}
	defaultLaunch = time.Date(2024, 12, 16, 9, 30, 0, 0, time.UTC)
)

const errFleetPrefix = "ssmtest: fleet: instance %s: "

// normalizeInstance checks an instance and fills in its defaults.
func normalizeInstance(in *Instance) error {
	id := in.InstanceID
	bad := func(format string, args ...any) error {
		return fmt.Errorf(errFleetPrefix+format, append([]any{id}, args...)...)
	}
	if !ec2IDPattern.MatchString(id) && !managedIDPattern.MatchString(id) && !strings.HasPrefix(id, "ecs:") {
		return fmt.Errorf("ssmtest: fleet: instance id %q is neither i-<hex> nor mi-<17 hex>", id)
	}
	if n, ok := in.Tags["Name"]; ok {
		if in.Name == "" {
			in.Name = n
		}
		delete(in.Tags, "Name")
	}
	if in.State == "" || in.IsManagedNode() || in.IsECSContainer() {
		in.State = StateRunning
	}
	if !slices.Contains(ec2States, in.State) {
		return bad("unknown state %q", in.State)
	}
	if in.PingStatus == "" {
		in.PingStatus = PingOnline
		if in.State != StateRunning {
			in.PingStatus = PingConnectionLost
		}
	}
	if !slices.Contains(pingStatuses, in.PingStatus) {
		return bad("unknown ping status %q", in.PingStatus)
	}
	if in.PlatformType == "" {
		in.PlatformType = "Linux"
	}
	if !slices.Contains(platformTypes, in.PlatformType) {
		return bad("unknown platform type %q", in.PlatformType)
	}
	if in.AgentVersion == "" {
		in.AgentVersion = DefaultAgentVersion
	}
	if in.InstanceType == "" {
		in.InstanceType = "t3.micro"
	}
	if in.LaunchTime.IsZero() {
		in.LaunchTime = defaultLaunch
	}
	if in.PrivateIP != "" {
		ip := net.ParseIP(in.PrivateIP)
		if ip == nil || ip.To4() == nil {
			return bad("private IP %q is not an IPv4 address", in.PrivateIP)
		}
		if in.PrivateDNSName == "" {
			in.PrivateDNSName = "ip-" + strings.ReplaceAll(ip.To4().String(), ".", "-") + ".ec2.internal"
		}
	}
	if err := normalizeImage(in); err != nil {
		return err
	}
	for port, target := range in.Ports {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return bad("port %q is not a port number", port)
		}
		if target != BuiltinSSH {
			if err := checkLoopback(target); err != nil {
				return bad("port %s: %v", port, err)
			}
		}
	}
	for hp, target := range in.RemoteHosts {
		if _, port, err := net.SplitHostPort(hp); err != nil || port == "" {
			return bad("remote host %q is not host:port", hp)
		}
		if err := checkLoopback(target); err != nil {
			return bad("remote host %s: %v", hp, err)
		}
	}
	return nil
}

// normalizeImage fills in the AMI defaults of an EC2 instance; managed
// nodes have no AMI.
func normalizeImage(in *Instance) error {
	if in.IsManagedNode() || in.IsECSContainer() {
		if in.Image != (Image{}) {
			return fmt.Errorf(errFleetPrefix+"a managed node has no AMI", in.InstanceID)
		}
		return nil
	}
	img := &in.Image
	if img.ImageID == "" {
		key := img.Name
		if key == "" {
			key = in.InstanceID
		}
		sum := sha256.Sum256([]byte(key))
		img.ImageID = "ami-" + hex.EncodeToString(sum[:])[:17]
	}
	if !amiPattern.MatchString(img.ImageID) {
		return fmt.Errorf(errFleetPrefix+"image id %q is not ami-<hex>", in.InstanceID, img.ImageID)
	}
	if img.PlatformDetails == "" {
		img.PlatformDetails = "Linux/UNIX"
		if in.PlatformType == "Windows" {
			img.PlatformDetails = "Windows"
		}
	}
	if img.Architecture == "" {
		img.Architecture = "x86_64"
	}
	return nil
}

// checkLoopback accepts host:port addresses on the loopback interface only.
func checkLoopback(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("target %q is not host:port", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("target %q has no valid port", addr)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("target %q is not a loopback address", addr)
	}
	return nil
}

// The instances of DefaultFleet.
const (
	InstanceAmazonLinux = "i-0a1b2c3d4e5f00001"  // Amazon Linux 2023, online
	InstanceUbuntu      = "i-0a1b2c3d4e5f00002"  // Ubuntu 24.04, online
	InstanceDebian      = "i-0a1b2c3d4e5f00003"  // Debian 12, online
	InstanceRHEL        = "i-0a1b2c3d4e5f00004"  // RHEL 9.4, running, agent ConnectionLost
	InstanceSUSE        = "i-0a1b2c3d4e5f00005"  // SLES 15 SP6, stopped
	InstanceWindows     = "i-0a1b2c3d4e5f00006"  // Windows Server 2022, online
	ManagedNodeOnPrem   = "mi-0a1b2c3d4e5f00007" // on-premises Debian 12 hybrid node, online

	// DefaultKMSKeyID is the default fleet's KMS key, alias DefaultKMSAlias.
	DefaultKMSKeyID = "5f2c8e0a-6b1d-4c3e-9a7f-0d1e2f3a4b5c"
	DefaultKMSAlias = "alias/ssm-sessions"
)

// DefaultFleet returns a new fleet of seven machines covering the common
// platforms: Amazon Linux, Ubuntu, Debian, RHEL (agent offline), SUSE
// (instance stopped), Windows, and one on-premises managed node; port 22
// of each leads to the built-in SSH server. It has one KMS key,
// DefaultKMSKeyID, alias DefaultKMSAlias.
func DefaultFleet() *Fleet {
	ssh := map[string]string{"22": BuiltinSSH}
	linux := func(id, name, ip, platform, version string, img Image, users ...string) Instance {
		return Instance{
			InstanceID: id, Name: name, Tags: map[string]string{"Environment": "test"},
			PlatformType: "Linux", PlatformName: platform, PlatformVersion: version,
			Image: img, PrivateIP: ip, Ports: maps.Clone(ssh), Users: users,
		}
	}
	al := linux(InstanceAmazonLinux, "web-al2023", "10.0.1.11", "Amazon Linux", "2023", Image{
		ImageID: "ami-0a1b2c3d4e5f01001", Name: "al2023-ami-2023.6.20241212.0-kernel-6.1-x86_64",
		Description: "Amazon Linux 2023 AMI 2023.6.20241212.0 x86_64 HVM kernel-6.1",
	}, "ec2-user", "ssm-user", "root")
	al.Tags["Role"] = "web"
	ubuntu := linux(InstanceUbuntu, "app-ubuntu", "10.0.1.12", "Ubuntu", "24.04", Image{
		ImageID: "ami-0a1b2c3d4e5f01002", Name: "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20241119",
		Description: "Canonical, Ubuntu, 24.04, amd64 noble image",
	}, "ubuntu", "ssm-user", "root")
	ubuntu.Tags["Role"] = "app"
	debian := linux(InstanceDebian, "worker-debian", "10.0.1.13", "Debian GNU/Linux", "12", Image{
		ImageID: "ami-0a1b2c3d4e5f01003", Name: "debian-12-amd64-20241201-1948",
		Description: "Debian 12 (20241201-1948)",
	}, "admin", "ssm-user", "root")
	rhel := linux(InstanceRHEL, "db-rhel", "10.0.1.14", "Red Hat Enterprise Linux", "9.4", Image{
		ImageID: "ami-0a1b2c3d4e5f01004", Name: "RHEL-9.4.0_HVM-20240605-x86_64-82-Hourly2-GP3",
		Description: "Provided by Red Hat, Inc.", PlatformDetails: "Red Hat Enterprise Linux",
	}, "ec2-user", "ssm-user", "root")
	rhel.PingStatus = PingConnectionLost
	suse := linux(InstanceSUSE, "batch-suse", "10.0.1.15", "SLES", "15.6", Image{
		ImageID: "ami-0a1b2c3d4e5f01005", Name: "suse-sles-15-sp6-v20241113-hvm-ssd-x86_64",
		Description: "SUSE Linux Enterprise Server 15 SP6 (HVM, 64-bit, SSD-Backed)", PlatformDetails: "SUSE Linux",
	}, "ec2-user", "ssm-user", "root")
	suse.State = StateStopped
	win := Instance{
		InstanceID: InstanceWindows, Name: "win-2022", Tags: map[string]string{"Environment": "test"},
		PlatformType: "Windows", PlatformName: "Microsoft Windows Server 2022 Datacenter", PlatformVersion: "10.0.20348",
		Image: Image{
			ImageID: "ami-0a1b2c3d4e5f01006", Name: "Windows_Server-2022-English-Full-Base-2024.11.13",
			Description: "Microsoft Windows Server 2022 Full Locale English AMI provided by Amazon",
		},
		InstanceType: "t3.large", PrivateIP: "10.0.1.16", Ports: maps.Clone(ssh),
		Users: []string{"Administrator", "ssm-user"},
	}
	onprem := linux(ManagedNodeOnPrem, "onprem-debian", "192.168.10.20", "Debian GNU/Linux", "12", Image{},
		"ops", "ssm-user", "root")
	onprem.PrivateDNSName = "build01.corp.example"
	f, err := NewFleet([]Instance{al, ubuntu, debian, rhel, suse, win, onprem}, []KMSKey{{
		KeyID: DefaultKMSKeyID, Aliases: []string{DefaultKMSAlias}, Description: "Session Manager session encryption",
	}})
	if err == nil {
		err = f.AddECSCluster(defaultECSCluster())
	}
	if err != nil {
		panic(err) // the literals above are valid
	}
	return f
}
