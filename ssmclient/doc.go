// Package ssmclient is the client-side AWS plumbing shared by ssmproxy (the
// OpenSSH ProxyCommand) and ssmssh, ssmscp and ssmsftp: loading AWS
// configuration and credentials, turning what the user typed after "ssh"
// into a Session Manager target, guessing the default login user of an EC2
// instance from its AMI, and translating AWS API errors into one line a user
// can act on.
//
// # Configuration
//
// [LoadAWSConfig] loads configuration the way the AWS CLI does, through the
// SDK's config package: the profile (--profile, AWS_PROFILE,
// AWS_DEFAULT_PROFILE), the region (--region, AWS_REGION,
// AWS_DEFAULT_REGION, the profile's region), SSO and assume-role profiles,
// AWS_ENDPOINT_URL and the per-service AWS_ENDPOINT_URL_SSM,
// AWS_ENDPOINT_URL_EC2, ... (and endpoint_url in the profile), and
// AWS_CA_BUNDLE (or ca_bundle in the profile). The SDK implements all of
// these itself; this package only adds what it leaves to the application:
// the MFA token code for assume-role profiles with mfa_serial, asked for on
// the controlling terminal through a [Prompter], and a clear error when no
// region is configured. It also fills one gap: the SDK does not apply
// AWS_ENDPOINT_URL (or a profile's endpoint_url) to the STS and SSO
// clients it builds for assume-role and SSO credentials, which would
// otherwise call the public endpoints; see lateEndpoint in awsconfig.go.
//
// In ProxyCommand mode stdin and stdout carry the SSH connection, so nothing
// here ever reads stdin or writes stdout: prompts go to the controlling
// terminal (/dev/tty, or the console on Windows) and fail with a clear error
// when there is none.
//
// SSO profiles use the token cached by "aws sso login", refreshing it when
// the cache holds a refresh token, exactly as the SDK does; the SDK does not
// run the device-authorization flow itself, so an expired SSO session is
// reported by [Explain] as "run aws sso login".
//
// [Client] bundles the loaded aws.Config with the service clients the
// commands use (SSM, EC2, KMS, EC2 Instance Connect, ECS). A shell or
// command in an ECS container starts through ECS ExecuteCommand
// ([Client.ExecuteCommand]), as aws ecs execute-command does.
//
// # Targets
//
// [ResolveTarget] accepts an EC2 instance id (i-...), a managed-instance id
// (mi-...) or an ECS target (ecs:<cluster>_<task>_<container-runtime-id>)
// unchanged, resolves ecs:<cluster>/<task>[/<container>] through ECS
// DescribeTasks ([ResolveECS]), and looks anything else up with EC2
// DescribeInstances by Name
// tag, private DNS name or private IP address, among running instances. A
// trailing ".ssm" is stripped first, so that an ssh_config block
// "Host *.ssm" maps web-1.ssm to the instance named web-1.
//
// # Default user
//
// [DefaultUser] maps an instance's AMI (name, description, platform) to the
// login user its distribution creates (ec2-user, ubuntu, admin, ...), and
// caches the answer per instance under the user cache directory.
//
// # Errors
//
// Functions return errors prefixed "ssmclient: ". AWS API errors stay as the
// SDK returns them (errors.As finds smithy.APIError and the service's typed
// errors); [Explain] wraps the ones a user commonly meets in an [*Error]
// whose message says what to do, keeping the original error in its chain.
// [*TargetNotFoundError] and [*AmbiguousTargetError] report failed lookups.
package ssmclient
