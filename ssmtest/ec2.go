package ssmtest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The EC2 operations (query protocol, Version 2016-11-15): the instance and
// image lookups that resolve a host name to an instance.
func (s *Server) ec2QueryOps() map[string]queryOp {
	return map[string]queryOp{
		"DescribeInstances": s.ec2DescribeInstances,
		"DescribeImages":    s.ec2DescribeImages,
	}
}

const ec2Namespace = "http://ec2.amazonaws.com/doc/2016-11-15/"

// ec2Denied is EC2's answer to a caller lacking the action.
func (c *call) ec2Denied() error {
	if !c.denied(c.iamAction()) {
		return nil
	}
	return apiErr("UnauthorizedOperation",
		"You are not authorized to perform this operation. User: %s is not authorized to perform: %s because no identity-based policy allows the %s action",
		c.caller, c.iamAction(), c.iamAction())
}

type ec2Tag struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

type ec2Instance struct {
	InstanceID    string `xml:"instanceId"`
	ImageID       string `xml:"imageId"`
	InstanceState struct {
		Code int    `xml:"code"`
		Name string `xml:"name"`
	} `xml:"instanceState"`
	PrivateDNSName string `xml:"privateDnsName"`
	DNSName        string `xml:"dnsName"`
	InstanceType   string `xml:"instanceType"`
	LaunchTime     string `xml:"launchTime"`
	Placement      struct {
		AvailabilityZone string `xml:"availabilityZone"`
		Tenancy          string `xml:"tenancy"`
	} `xml:"placement"`
	Platform         string   `xml:"platform,omitempty"`
	PlatformDetails  string   `xml:"platformDetails"`
	PrivateIPAddress string   `xml:"privateIpAddress,omitempty"`
	Architecture     string   `xml:"architecture"`
	RootDeviceType   string   `xml:"rootDeviceType"`
	Tags             []ec2Tag `xml:"tagSet>item"`
}

type ec2Reservation struct {
	ReservationID string        `xml:"reservationId"`
	OwnerID       string        `xml:"ownerId"`
	Instances     []ec2Instance `xml:"instancesSet>item"`
}

type describeInstancesResponse struct {
	XMLName      xml.Name         `xml:"DescribeInstancesResponse"`
	Xmlns        string           `xml:"xmlns,attr"`
	RequestID    string           `xml:"requestId"`
	Reservations []ec2Reservation `xml:"reservationSet>item"`
	NextToken    string           `xml:"nextToken,omitempty"`
}

var ec2StateCodes = map[string]int{
	"pending": 0, StateRunning: 16, "shutting-down": 32, "terminated": 48, "stopping": 64, StateStopped: 80,
}

var instanceFilterNames = []string{
	"instance-id", "tag-key", "tag-value", "private-dns-name", "private-ip-address",
	"instance-state-name", "image-id", "instance-type", "availability-zone", "platform",
}

func (s *Server) ec2DescribeInstances(c *call, form queryForm) (any, error) {
	if err := c.ec2Denied(); err != nil {
		return nil, err
	}
	ids := form.list("InstanceId")
	var missing []string
	for _, id := range ids {
		if !ec2IDPattern.MatchString(id) {
			return nil, apiErr("InvalidInstanceID.Malformed", "Invalid id: %q (expecting \"i-...\")", id)
		}
		if inst, ok := s.fleet.Instance(id); !ok || inst.IsManagedNode() {
			missing = append(missing, id)
		}
	}
	switch len(missing) {
	case 0:
	case 1:
		return nil, apiErr("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", missing[0])
	default:
		return nil, apiErr("InvalidInstanceID.NotFound", "The instance IDs '%s' do not exist", strings.Join(missing, ", "))
	}
	filters := form.filters()
	for _, f := range filters {
		if !slices.Contains(instanceFilterNames, f.Name) && !strings.HasPrefix(f.Name, "tag:") {
			return nil, apiErr("InvalidParameterValue", "The filter '%s' is invalid", f.Name)
		}
	}
	maxResults := 0
	if m := form.Get("MaxResults"); m != "" {
		if len(ids) > 0 {
			return nil, apiErr("InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults")
		}
		n, err := strconv.Atoi(m)
		if err != nil || n < 5 || n > 1000 {
			return nil, apiErr("InvalidParameterValue", "Value ( %s ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.", m)
		}
		maxResults = n
	}
	var matched []ec2Reservation
	for _, inst := range s.fleet.Instances() {
		if inst.IsManagedNode() || (len(ids) > 0 && !slices.Contains(ids, inst.InstanceID)) {
			continue
		}
		x := s.ec2Instance(&inst)
		if !ec2Matches(&inst, &x, filters) {
			continue
		}
		sum := sha256.Sum256([]byte(inst.InstanceID))
		matched = append(matched, ec2Reservation{
			ReservationID: "r-" + hex.EncodeToString(sum[:])[:17], OwnerID: s.account, Instances: []ec2Instance{x},
		})
	}
	page, next := matched, ""
	if maxResults > 0 || form.Get("NextToken") != "" {
		var err error
		page, next, err = paginate(matched, maxResults, form.Get("NextToken"), 5, 1000, 1000)
		if err != nil {
			return nil, apiErr("InvalidParameterValue", "Invalid value '%s' for nextToken", form.Get("NextToken"))
		}
	}
	return describeInstancesResponse{Xmlns: ec2Namespace, RequestID: c.requestID, Reservations: page, NextToken: next}, nil
}

func (s *Server) ec2Instance(inst *Instance) ec2Instance {
	x := ec2Instance{
		InstanceID: inst.InstanceID, ImageID: inst.Image.ImageID,
		PrivateDNSName: inst.PrivateDNSName, InstanceType: inst.InstanceType,
		LaunchTime: iso8601(inst.LaunchTime), PlatformDetails: inst.Image.PlatformDetails,
		PrivateIPAddress: inst.PrivateIP, Architecture: inst.Image.Architecture, RootDeviceType: "ebs",
	}
	x.InstanceState.Code, x.InstanceState.Name = ec2StateCodes[inst.State], inst.State
	x.Placement.AvailabilityZone, x.Placement.Tenancy = s.availabilityZone(inst), "default"
	if inst.PlatformType == "Windows" {
		x.Platform = "windows"
	}
	if inst.Name != "" {
		x.Tags = append(x.Tags, ec2Tag{"Name", inst.Name})
	}
	for _, k := range sortedKeys(inst.Tags) {
		x.Tags = append(x.Tags, ec2Tag{k, inst.Tags[k]})
	}
	return x
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ec2Matches applies EC2 filters: every filter must match, a filter
// matches when any of its values does, and values may use the wildcards
// * and ?.
func ec2Matches(inst *Instance, x *ec2Instance, filters []queryFilter) bool {
	for _, f := range filters {
		var fields []string
		switch f.Name {
		case "instance-id":
			fields = []string{inst.InstanceID}
		case "private-dns-name":
			fields = []string{inst.PrivateDNSName}
		case "private-ip-address":
			fields = []string{inst.PrivateIP}
		case "instance-state-name":
			fields = []string{inst.State}
		case "image-id":
			fields = []string{inst.Image.ImageID}
		case "instance-type":
			fields = []string{inst.InstanceType}
		case "availability-zone":
			fields = []string{x.Placement.AvailabilityZone}
		case "platform":
			fields = []string{x.Platform}
		case "tag-key":
			for _, t := range x.Tags {
				fields = append(fields, t.Key)
			}
		case "tag-value":
			for _, t := range x.Tags {
				fields = append(fields, t.Value)
			}
		default: // tag:<key>
			key := strings.TrimPrefix(f.Name, "tag:")
			for _, t := range x.Tags {
				if t.Key == key {
					fields = append(fields, t.Value)
				}
			}
		}
		if !anyGlobMatch(f.Values, fields) {
			return false
		}
	}
	return true
}

func anyGlobMatch(patterns, fields []string) bool {
	for _, p := range patterns {
		re := globRegexp(p)
		for _, f := range fields {
			if f != "" && re.MatchString(f) {
				return true
			}
		}
	}
	return false
}

// globRegexp compiles an EC2 filter value: * is any run of characters, ?
// one character, \ escapes the next one.
func globRegexp(p string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(p); i++ {
		switch ch := p[i]; ch {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		case '\\':
			if i+1 < len(p) {
				i++
				b.WriteString(regexp.QuoteMeta(p[i : i+1]))
			}
		default:
			b.WriteString(regexp.QuoteMeta(p[i : i+1]))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

type ec2Image struct {
	ImageID            string `xml:"imageId"`
	ImageLocation      string `xml:"imageLocation"`
	ImageState         string `xml:"imageState"`
	ImageOwnerID       string `xml:"imageOwnerId"`
	CreationDate       string `xml:"creationDate"`
	IsPublic           bool   `xml:"isPublic"`
	Architecture       string `xml:"architecture"`
	ImageType          string `xml:"imageType"`
	Name               string `xml:"name"`
	Description        string `xml:"description"`
	Platform           string `xml:"platform,omitempty"`
	PlatformDetails    string `xml:"platformDetails"`
	RootDeviceType     string `xml:"rootDeviceType"`
	VirtualizationType string `xml:"virtualizationType"`
	Hypervisor         string `xml:"hypervisor"`
	EnaSupport         bool   `xml:"enaSupport"`
}

type describeImagesResponse struct {
	XMLName   xml.Name   `xml:"DescribeImagesResponse"`
	Xmlns     string     `xml:"xmlns,attr"`
	RequestID string     `xml:"requestId"`
	Images    []ec2Image `xml:"imagesSet>item"`
}

var amiLookalike = regexp.MustCompile(`^ami-[0-9a-f]+$`)

func (s *Server) ec2DescribeImages(c *call, form queryForm) (any, error) {
	if err := c.ec2Denied(); err != nil {
		return nil, err
	}
	images := map[string]ec2Image{}
	var order []string
	for _, inst := range s.fleet.Instances() {
		img := inst.Image
		if inst.IsManagedNode() || images[img.ImageID].ImageID != "" {
			continue
		}
		x := ec2Image{
			ImageID: img.ImageID, ImageLocation: "amazon/" + img.Name, ImageState: "available",
			ImageOwnerID: "137112412989", CreationDate: iso8601(defaultLaunch.AddDate(0, 0, -30)), IsPublic: true,
			Architecture: img.Architecture, ImageType: "machine", Name: img.Name, Description: img.Description,
			PlatformDetails: img.PlatformDetails, RootDeviceType: "ebs", VirtualizationType: "hvm",
			Hypervisor: "xen", EnaSupport: true,
		}
		if inst.PlatformType == "Windows" {
			x.Platform = "windows"
		}
		images[img.ImageID] = x
		order = append(order, img.ImageID)
	}
	ids := form.list("ImageId")
	var missing []string
	for _, id := range ids {
		if !amiLookalike.MatchString(id) {
			return nil, apiErr("InvalidAMIID.Malformed", "Invalid id: %q (expecting \"ami-...\")", id)
		}
		if _, ok := images[id]; !ok {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return nil, apiErr("InvalidAMIID.NotFound", "The image id '[%s]' does not exist", strings.Join(missing, ", "))
	}
	out := describeImagesResponse{Xmlns: ec2Namespace, RequestID: c.requestID, Images: []ec2Image{}}
	for _, id := range order {
		if len(ids) > 0 && !slices.Contains(ids, id) {
			continue
		}
		img := images[id]
		ok := true
		for _, f := range form.filters() {
			switch f.Name {
			case "image-id":
				ok = ok && anyGlobMatch(f.Values, []string{img.ImageID})
			case "name":
				ok = ok && anyGlobMatch(f.Values, []string{img.Name})
			default:
				return nil, apiErr("InvalidParameterValue", "The filter '%s' is invalid", f.Name)
			}
		}
		if ok {
			out.Images = append(out.Images, img)
		}
	}
	return out, nil
}
