package ssmtest

import (
	"maps"
	"strings"
	"sync"
	"time"
)

// Faults holds the misbehaviours the emulator is told to show. The zero
// value injects nothing, and a nil *Faults is valid and injects nothing.
// Its methods are safe for concurrent use and take effect immediately, so
// faults may be set before Start or while sessions run.
type Faults struct {
	mu  sync.Mutex
	set FaultSet
}

// FaultSet is a snapshot of the faults in force (see Faults.Snapshot).
// Maps in a snapshot are copies owned by the caller.
type FaultSet struct {
	// KMSDenyGenerateDataKey makes KMS GenerateDataKey fail with
	// AccessDeniedException, as when the caller lacks kms:GenerateDataKey.
	KMSDenyGenerateDataKey bool
	// KMSDenyDecrypt makes KMS Decrypt fail with AccessDeniedException, as
	// when the instance profile lacks kms:Decrypt.
	KMSDenyDecrypt bool
	// KMSInvalidKey makes every KMS call that names a key fail with
	// NotFoundException "Invalid keyId …", as when the key in the session
	// preferences is wrong.
	KMSInvalidKey bool

	// AgentOffline lists instance ids whose agent is unreachable although
	// the fleet says it is online: StartSession answers TargetNotConnected.
	AgentOffline map[string]bool
	// RefuseStartSessions refuses that many StartSession calls with
	// TargetNotConnected, after letting RefuseStartSessionsAfter through
	// (both count down as calls arrive): one session of several refused,
	// as when the agent drops off between two starts.
	RefuseStartSessions, RefuseStartSessionsAfter int
	// APIAccessDenied lists IAM actions ("ssm:StartSession",
	// "ec2:DescribeInstances", "ec2-instance-connect:SendSSHPublicKey", …)
	// the caller is not allowed: the API answers AccessDeniedException (EC2:
	// UnauthorizedOperation).
	APIAccessDenied map[string]bool
	// ExpiredCredentials lists access key ids whose credentials have
	// expired: API calls signed with them answer 403 ExpiredTokenException
	// ("The security token included in the request is expired"; query
	// services: STS ExpiredToken, EC2 RequestExpired), and the gateway
	// refuses requests signed with them likewise, as AWS treats temporary
	// credentials past their expiry. Credentials from
	// Server.TemporaryCredentials also expire by themselves.
	ExpiredCredentials map[string]bool

	// The remaining faults act on the data channel and are applied by the
	// gateway to the frames it relays.

	// Latency is the added round-trip time; each direction is delayed by
	// half of it.
	Latency time.Duration
	// BandwidthBytesPerSec caps the relayed bytes per second in each
	// direction; 0 means unlimited.
	BandwidthBytesPerSec int
	// KillClientWebsocketAfterBytes closes the client's data-channel
	// websocket once this many bytes have been relayed to it (0: never),
	// forcing the client to ResumeSession and reconnect.
	KillClientWebsocketAfterBytes int64
	// KillClientWebsocketTimes bounds how often the websocket is killed
	// (0: every time the byte count is reached again).
	KillClientWebsocketTimes int
	// KillAgentWebsocketAfterBytes and KillAgentWebsocketTimes do the
	// same to the agent's data-channel websocket, counting the bytes
	// relayed to the agent: the agent reconnects with a new data-channel
	// token and both ends retransmit. The real agent can then write a
	// client message to its target twice (PROTOCOL.md section 11); the
	// built-in agent does not.
	KillAgentWebsocketAfterBytes int64
	KillAgentWebsocketTimes      int
	// DropRate, DuplicateRate and ReorderRate are the probabilities (0..1)
	// that a relayed frame is dropped, sent twice, or held back behind the
	// next frame.
	DropRate, DuplicateRate, ReorderRate float64
	// Seed seeds the random choices of DropRate, DuplicateRate and
	// ReorderRate, so a failing run can be repeated.
	Seed int64
	// PausePublication makes the service send the client pause_publication
	// (and later start_publication), which the agent never does itself.
	PausePublication bool
	// PublicationRateLimit makes the service pause a client that sends
	// more than this many stream messages a second, on average over
	// PublicationRateWindow, with pause_publication, and start it again
	// with start_publication once it has sent no more than that over the
	// following window (0: no limit). The service is reported to do so at
	// about 1000 messages a second for a couple of seconds
	// (ServicePublicationRate; not in any AWS document, and that it counts
	// stream messages only, not acknowledgements, is a guess).
	PublicationRateLimit int
	// PublicationRateWindow is the window of PublicationRateLimit
	// (0: ServicePublicationWindow, 2 s).
	PublicationRateWindow time.Duration
	// WebsocketLifetime closes each client data-channel websocket this
	// long after it opened, with close code 1000, as the service does
	// after about an hour (ServiceWebsocketLifetime); the client resumes
	// with ResumeSession (0: never). It runs on Options.Timers.
	WebsocketLifetime time.Duration
	// MaxMessageBytes is the largest websocket message (frame header
	// included) the gateway reads from either side; a larger one is
	// refused with a websocket close 1009 (0: DefaultMaxMessageBytes). It
	// applies to websockets opened after it is set.
	MaxMessageBytes int
	// HandshakeNeverAnswered withholds the client's HandshakeResponse from
	// the agent, which then fails the session after its handshake timeout.
	HandshakeNeverAnswered bool
	// RunAsUserMissing makes the agent report that the RunAs user does not
	// exist on the instance.
	RunAsUserMissing bool
}

// Snapshot returns a copy of the faults in force.
func (f *Faults) Snapshot() FaultSet {
	if f == nil {
		return FaultSet{}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.set
	s.AgentOffline = maps.Clone(f.set.AgentOffline)
	s.APIAccessDenied = maps.Clone(f.set.APIAccessDenied)
	s.ExpiredCredentials = maps.Clone(f.set.ExpiredCredentials)
	return s
}

// Set changes faults under the lock: f.Set(func(s *FaultSet) { s.DropRate = 0.1 }).
func (f *Faults) Set(change func(*FaultSet)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(&f.set)
}

// KMSDenyGenerateDataKey sets or clears FaultSet.KMSDenyGenerateDataKey.
func (f *Faults) KMSDenyGenerateDataKey(deny bool) {
	f.Set(func(s *FaultSet) { s.KMSDenyGenerateDataKey = deny })
}

// KMSDenyDecrypt sets or clears FaultSet.KMSDenyDecrypt.
func (f *Faults) KMSDenyDecrypt(deny bool) {
	f.Set(func(s *FaultSet) { s.KMSDenyDecrypt = deny })
}

// KMSInvalidKey sets or clears FaultSet.KMSInvalidKey.
func (f *Faults) KMSInvalidKey(invalid bool) {
	f.Set(func(s *FaultSet) { s.KMSInvalidKey = invalid })
}

// AgentOffline marks an instance's agent unreachable (or reachable again).
func (f *Faults) AgentOffline(instanceID string, offline bool) {
	f.Set(func(s *FaultSet) { s.AgentOffline = setFlag(s.AgentOffline, instanceID, offline) })
}

// APIAccessDenied denies (or allows again) an IAM action. A bare operation
// name such as "StartSession" means the SSM action "ssm:StartSession".
func (f *Faults) APIAccessDenied(action string, denied bool) {
	action = normalizeAction(action)
	f.Set(func(s *FaultSet) { s.APIAccessDenied = setFlag(s.APIAccessDenied, action, denied) })
}

// ExpireCredentials marks the credentials of an access key id expired (or
// valid again); see FaultSet.ExpiredCredentials.
func (f *Faults) ExpireCredentials(accessKeyID string, expired bool) {
	f.Set(func(s *FaultSet) { s.ExpiredCredentials = setFlag(s.ExpiredCredentials, accessKeyID, expired) })
}

func setFlag(m map[string]bool, key string, on bool) map[string]bool {
	if !on {
		delete(m, key)
		return m
	}
	if m == nil {
		m = make(map[string]bool)
	}
	m[key] = true
	return m
}

func normalizeAction(action string) string {
	if !strings.Contains(action, ":") {
		return "ssm:" + action
	}
	return action
}

// denied reports whether the IAM action is denied by a fault.
func (s FaultSet) denied(action string) bool {
	return s.APIAccessDenied[action]
}
