package ssmtest

import (
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func ec2Filter(name string, values ...string) ec2types.Filter {
	return ec2types.Filter{Name: aws.String(name), Values: values}
}

func instanceIDs(out *ec2.DescribeInstancesOutput) []string {
	var ids []string
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			ids = append(ids, aws.ToString(in.InstanceId))
		}
	}
	return ids
}

func TestDescribeInstancesFilters(t *testing.T) {
	_, cfg := startServer(t, Options{})
	c := ec2.NewFromConfig(cfg)
	checks := []struct {
		name string
		in   ec2.DescribeInstancesInput
		want []string
	}{
		{"all EC2 instances, no managed nodes", ec2.DescribeInstancesInput{},
			[]string{InstanceAmazonLinux, InstanceUbuntu, InstanceDebian, InstanceRHEL, InstanceSUSE, InstanceWindows}},
		{"instance ids", ec2.DescribeInstancesInput{InstanceIds: []string{InstanceWindows, InstanceDebian}},
			[]string{InstanceDebian, InstanceWindows}},
		{"instance-id filter", ec2.DescribeInstancesInput{Filters: []ec2types.Filter{ec2Filter("instance-id", InstanceRHEL, "i-0123456789abcdef0")}},
			[]string{InstanceRHEL}},
		{"tag:Name", ec2.DescribeInstancesInput{Filters: []ec2types.Filter{ec2Filter("tag:Name", "web-al2023")}},
			[]string{InstanceAmazonLinux}},
		{"tag:Name wildcard", ec2.DescribeInstancesInput{Filters: []ec2types.Filter{ec2Filter("tag:Name", "*-ubuntu", "db-?hel")}},
			[]string{InstanceUbuntu, InstanceRHEL}},
		{"tag-key", ec2.DescribeInstancesInput{Filters: []ec2types.Filter{ec2Filter("tag-key", "Role")}},
			[]string{InstanceAmazonLinux, InstanceUbuntu}},
		{"private-dns-name", ec2.DescribeInstancesInput{Filters: []ec2types.Filter{ec2Filter("private-dns-name", "ip-10-0-1-13.ec2.internal")}},
			[]string{InstanceDebian}},
		{"private-ip-address", ec2.DescribeInstancesInput{Filters: []ec2types.Filter{ec2Filter("private-ip-address", "10.0.1.16")}},
			[]string{InstanceWindows}},
		{"instance-state-name", ec2.DescribeInstancesInput{Filters: []ec2types.Filter{ec2Filter("instance-state-name", "stopped")}},
			[]string{InstanceSUSE}},
		{"filters combine with AND", ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
			ec2Filter("tag-key", "Role"), ec2Filter("private-ip-address", "10.0.1.12")}}, []string{InstanceUbuntu}},
		{"nothing matches", ec2.DescribeInstancesInput{Filters: []ec2types.Filter{ec2Filter("tag:Name", "nope")}}, nil},
	}
	for _, ch := range checks {
		out, err := c.DescribeInstances(t.Context(), &ch.in)
		if err != nil {
			t.Fatalf("%s: %v", ch.name, err)
		}
		if got := instanceIDs(out); !slices.Equal(got, ch.want) {
			t.Errorf("%s: %v, want %v", ch.name, got, ch.want)
		}
	}
}

// TestDescribeInstancesFields checks the fields a user sees. EC2 spells
// the Windows platform "windows", although the SDK's enum constant
// PlatformValuesWindows is "Windows".
func TestDescribeInstancesFields(t *testing.T) {
	_, cfg := startServer(t, Options{})
	c := ec2.NewFromConfig(cfg)
	out, err := c.DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{InstanceIds: []string{InstanceWindows, InstanceSUSE}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Reservations) != 2 || aws.ToString(out.Reservations[0].OwnerId) != "123456789012" ||
		!strings.HasPrefix(aws.ToString(out.Reservations[0].ReservationId), "r-") {
		t.Fatalf("reservations = %+v", out.Reservations)
	}
	suse, win := out.Reservations[0].Instances[0], out.Reservations[1].Instances[0]
	if suse.State.Name != ec2types.InstanceStateNameStopped || aws.ToInt32(suse.State.Code) != 80 {
		t.Errorf("SUSE state = %+v", suse.State)
	}
	if win.State.Name != ec2types.InstanceStateNameRunning || aws.ToInt32(win.State.Code) != 16 ||
		win.Platform != "windows" || aws.ToString(win.PlatformDetails) != "Windows" ||
		aws.ToString(win.ImageId) != "ami-0a1b2c3d4e5f01006" || aws.ToString(win.PrivateIpAddress) != "10.0.1.16" ||
		aws.ToString(win.PrivateDnsName) != "ip-10-0-1-16.ec2.internal" || win.InstanceType != ec2types.InstanceTypeT3Large ||
		aws.ToString(win.Placement.AvailabilityZone) != "us-east-1a" || win.LaunchTime == nil {
		t.Errorf("Windows instance = %+v", win)
	}
	if len(win.Tags) != 2 || aws.ToString(win.Tags[0].Key) != "Name" || aws.ToString(win.Tags[0].Value) != "win-2022" {
		t.Errorf("Windows tags = %+v", win.Tags)
	}
}

func TestDescribeInstancesErrors(t *testing.T) {
	s, cfg := startServer(t, Options{})
	c := ec2.NewFromConfig(cfg)
	checks := []struct {
		name string
		in   ec2.DescribeInstancesInput
		code string
		msg  string
	}{
		{"unknown id", ec2.DescribeInstancesInput{InstanceIds: []string{"i-0123456789abcdef0"}},
			"InvalidInstanceID.NotFound", "The instance ID 'i-0123456789abcdef0' does not exist"},
		{"unknown ids", ec2.DescribeInstancesInput{InstanceIds: []string{"i-0123456789abcdef0", InstanceUbuntu, "i-0123456789abcdef1"}},
			"InvalidInstanceID.NotFound", "The instance IDs 'i-0123456789abcdef0, i-0123456789abcdef1' do not exist"},
		{"malformed id", ec2.DescribeInstancesInput{InstanceIds: []string{"web01"}},
			"InvalidInstanceID.Malformed", `Invalid id: "web01"`},
		{"managed node id", ec2.DescribeInstancesInput{InstanceIds: []string{ManagedNodeOnPrem}},
			"InvalidInstanceID.Malformed", ManagedNodeOnPrem},
		{"unknown filter", ec2.DescribeInstancesInput{Filters: []ec2types.Filter{ec2Filter("colour", "blue")}},
			"InvalidParameterValue", "The filter 'colour' is invalid"},
	}
	for _, ch := range checks {
		_, err := c.DescribeInstances(t.Context(), &ch.in)
		if ae := apiCode(t, err, ch.code); !strings.Contains(ae.ErrorMessage(), ch.msg) {
			t.Errorf("%s: message %q lacks %q", ch.name, ae.ErrorMessage(), ch.msg)
		}
	}
	s.Faults().APIAccessDenied("ec2:DescribeInstances", true)
	_, err := c.DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{})
	if ae := apiCode(t, err, "UnauthorizedOperation"); !strings.Contains(ae.ErrorMessage(), "ec2:DescribeInstances") {
		t.Errorf("denied message %q", ae.ErrorMessage())
	}
}

func TestDescribeInstancesPaginates(t *testing.T) {
	_, cfg := startServer(t, Options{})
	p := ec2.NewDescribeInstancesPaginator(ec2.NewFromConfig(cfg), &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5)})
	var ids []string
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		pages++
		ids = append(ids, instanceIDs(out)...)
	}
	if pages != 2 || len(ids) != 6 {
		t.Fatalf("%d pages, ids %v", pages, ids)
	}
}

func TestDescribeImages(t *testing.T) {
	_, cfg := startServer(t, Options{})
	c := ec2.NewFromConfig(cfg)
	all, err := c.DescribeImages(t.Context(), &ec2.DescribeImagesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Images) != 6 {
		t.Fatalf("%d images, want 6", len(all.Images))
	}
	out, err := c.DescribeImages(t.Context(), &ec2.DescribeImagesInput{ImageIds: []string{"ami-0a1b2c3d4e5f01002"}})
	if err != nil {
		t.Fatal(err)
	}
	img := out.Images[0]
	if len(out.Images) != 1 || aws.ToString(img.Name) != "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20241119" ||
		aws.ToString(img.PlatformDetails) != "Linux/UNIX" || img.Architecture != ec2types.ArchitectureValuesX8664 ||
		img.State != ec2types.ImageStateAvailable || !strings.Contains(aws.ToString(img.Description), "Ubuntu") {
		t.Errorf("image = %+v", img)
	}
	byName, err := c.DescribeImages(t.Context(), &ec2.DescribeImagesInput{Filters: []ec2types.Filter{ec2Filter("name", "Windows_Server-*")}})
	if err != nil || len(byName.Images) != 1 || byName.Images[0].Platform != "windows" {
		t.Errorf("by name: %v %+v", err, byName)
	}
	_, err = c.DescribeImages(t.Context(), &ec2.DescribeImagesInput{ImageIds: []string{"ami-0123456789abcdef0"}})
	apiCode(t, err, "InvalidAMIID.NotFound")
	_, err = c.DescribeImages(t.Context(), &ec2.DescribeImagesInput{ImageIds: []string{"ubuntu"}})
	apiCode(t, err, "InvalidAMIID.Malformed")
}
