package doctor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"

	"github.com/ssmssh/ssmssh/ssmclient"
)

// refineTimeout bounds the EC2 call that refines a failure.
const refineTimeout = 10 * time.Second

// RefineNotConnected refines StartSession's TargetNotConnected for an
// EC2 instance id, for the commands' failure lines. Session Manager answers the same for an id that does
// not exist, a stopped instance and an instance whose agent is offline;
// EC2 tells these apart. Any other error, a target that is not an EC2
// instance, or an EC2 call that fails (no ec2:DescribeInstances, say)
// leaves err as it is.
func RefineNotConnected(ctx context.Context, api ssmclient.EC2DescribeInstancesAPI, region string, target ssmclient.Target, err error) error {
	var ce *ssmclient.Error
	if api == nil || target.Kind != ssmclient.KindInstance || !errors.As(err, &ce) || ce.Code != ssmclient.CodeTargetNotConnected {
		return err
	}
	id := target.InstanceID
	ctx, cancel := context.WithTimeout(ctx, refineTimeout)
	defer cancel()
	out, derr := api.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	var apiErr smithy.APIError
	switch {
	case errors.As(derr, &apiErr) && strings.HasPrefix(apiErr.ErrorCode(), "InvalidInstanceID."):
		where := "this region"
		if region != "" {
			where = region
		}
		return &ssmclient.Error{Op: ce.Op, Code: ssmclient.CodeInstanceNotFound, Err: err,
			Hint: fmt.Sprintf("there is no instance %s in %s: check the instance id, --region and --profile", id, where)}
	case derr != nil:
		return err
	}
	state := ""
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			if aws.ToString(in.InstanceId) == id && in.State != nil {
				state = string(in.State.Name)
			}
		}
	}
	switch state {
	case "":
		return err
	case "running":
		return &ssmclient.Error{Op: ce.Op, Code: ce.Code, Err: err,
			Hint: fmt.Sprintf("%s is running but its SSM agent is not connected to Session Manager: check that the agent runs, that the instance profile allows Session Manager (AmazonSSMManagedInstanceCore) and that the instance reaches the ssm and ssmmessages endpoints", id)}
	case "pending":
		return &ssmclient.Error{Op: ce.Op, Code: ssmclient.CodeInstanceNotRunning, Err: err,
			Hint: fmt.Sprintf("%s is still starting (pending): retry when its SSM agent has connected", id)}
	case "shutting-down", "terminated":
		return &ssmclient.Error{Op: ce.Op, Code: ssmclient.CodeInstanceNotFound, Err: err,
			Hint: fmt.Sprintf("%s has been terminated", id)}
	default: // stopping, stopped
		return &ssmclient.Error{Op: ce.Op, Code: ssmclient.CodeInstanceNotRunning, Err: err,
			Hint: fmt.Sprintf("%s is %s, not running: start it, then retry", id, state)}
	}
}
