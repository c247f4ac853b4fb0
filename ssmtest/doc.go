// Package ssmtest is an offline emulator of the AWS side of Session
// Manager, in the spirit of net/http/httptest: NewServer starts a real
// HTTPS server on 127.0.0.1 that answers, on one endpoint, the AWS APIs a
// Session Manager user calls, in their real wire formats, so that the
// unmodified aws-sdk-go-v2 clients and the AWS CLI work against it when
// pointed at Server.URL (Server.Env, Server.AWSConfig):
//
//   - SSM (JSON 1.1): StartSession, ResumeSession, TerminateSession,
//     DescribeSessions, DescribeInstanceInformation, GetDocument;
//   - EC2 (query/XML): DescribeInstances, DescribeImages;
//   - EC2 Instance Connect (JSON 1.1): SendSSHPublicKey;
//   - ECS (JSON 1.1): ListTasks, DescribeTasks, ExecuteCommand;
//   - KMS (JSON 1.1): GenerateDataKey, Decrypt, DescribeKey;
//   - STS (query/XML): GetCallerIdentity;
//   - IAM (query/XML): SimulatePrincipalPolicy, ListUserTags, ListRoleTags.
//
// The machines behind the APIs are a Fleet (instances with their tags,
// AMIs, agent status and version, reach to KMS, and the loopback
// addresses their ports lead to; ECS clusters whose containers each have
// an agent of their own, at targets ecs:<cluster>_<task>_<runtime-id>;
// KMS keys and their states; IAM principals with tags and denied actions,
// iam.go);
// the session documents are served as AWS publishes them, and sessions
// live in a registry (Sessions) that the ssmmessages gateway shares
// through Hooks. Faults injects the failures users meet: denied KMS keys,
// unreachable agents, missing IAM permissions, expired credentials, and
// data-channel trouble, including the service's limits (limits.go: the
// publication rate, the hourly websocket close, the message size; the
// idle timeout and maximum duration are Options). Options.Timers runs the
// service's deadlines on a Clock, a FakeClock in tests.
//
// The gateway checks SigV4 on every request of its clients and agents
// (sigv4.go), as the service does, against the credentials the server
// knows (credentials.go): the user's (Env, AWSConfig), the built-in
// agents' instance keys, and TemporaryCredentials. The APIs take any
// signature, but refuse expired credentials. Options.AllowUnsignedGateway
// turns the gateway's check off.
//
// The same port is an HTTPS CONNECT proxy for *.amazonaws.com (proxy.go):
// clients that dial AWS host names whatever their endpoint says (the
// official plugin's KMS client, AWS CLIs before AWS_ENDPOINT_URL) reach the
// emulated services through HTTPS_PROXY, trusting certificates the
// emulator's CA issues for those names. Env names the CA in both
// AWS_CA_BUNDLE and SSL_CERT_FILE; Options.CADir keeps it across runs.
//
// An instance can be served by an external agent (Instance.ExternalAgent),
// such as a real amazon-ssm-agent run in container mode with a custom
// identity; DescribeInstanceInformation's ping status, agent version and
// platform are live, from the control channels the gateway has open
// (agentstatus.go).
//
// The built-in agents pace what they send to clients as amazon-ssm-agent
// does (Options.AgentPace = RealAgentPace: 1 KiB reads, 1 ms after each,
// about 1 MB/s per session; see agent.Pace for the sources) or, by
// default, not at all, so that bulk tests stay fast. Figures meant to
// predict what users see (benchmarks, ssmlocal) use the real pace.
//
// Production code never imports this package.
//
// Facts the emulator follows that PROTOCOL.md does not spell out:
//
//   - JSON 1.1 errors carry the code both in the X-Amzn-ErrorType header
//     and as "__type" in the body; the SDK prefers the header.
//   - EC2 and STS both use POST / with Action and Version form fields; only
//     the SigV4 credential scope tells them apart on a shared endpoint.
//   - StartSession's error for an unknown target is TargetNotConnected
//     ("<id> is not connected."), the same as for an offline agent.
//   - The service sends the agent the document with {{ name }}
//     placeholders intact; the agent substitutes Parameters itself.
//   - KMS InvalidCiphertextException carries no message.
//   - EC2 reports the Windows platform as "windows" (lower case), not as
//     the SDK's enum constant "Windows".
//   - An agent that cannot reach KMS fails an encrypted session with the
//     same text as a client that never answers the handshake: the real
//     agent decrypts the data key apart from its wait for the answer,
//     which times out first.
//   - An agent older than a session kind fails the step with "Plugin with
//     name Port is not supported by this version of ssm agent, please
//     update to latest version. Step name: Port" (agent's runpluginutil).
//
// Error texts the emulator could not check against AWS are its own
// wording in AWS's style; the error codes are AWS's.
package ssmtest
