package ssmtest

import (
	"crypto/rsa"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/crypto/ssh"
)

// EC2 Instance Connect (JSON 1.1, target prefix
// AWSEC2InstanceConnectService): SendSSHPublicKey pushes a key that the
// instance's SSH server accepts for InstanceConnectKeyTTL.
func (s *Server) eicOps() map[string]jsonOp {
	return map[string]jsonOp{
		"AWSEC2InstanceConnectService.SendSSHPublicKey": op(s.eicSendSSHPublicKey),
	}
}

// InstanceConnectKeyTTL is how long a key pushed with SendSSHPublicKey is
// accepted, as AWS documents.
const InstanceConnectKeyTTL = 60 * time.Second

type eicKey struct{ instanceID, user string }

type eicEntry struct {
	line    string
	expires time.Time
}

type eicStore struct {
	mu   sync.Mutex
	keys map[eicKey][]eicEntry
}

func (e *eicStore) add(k eicKey, line string, expires time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.keys[k] = append(e.keys[k], eicEntry{line, expires})
}

// valid returns the still valid lines for k and forgets expired ones.
func (e *eicStore) valid(k eicKey, now time.Time) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var lines []string
	live := e.keys[k][:0]
	for _, en := range e.keys[k] {
		if now.Before(en.expires) {
			live = append(live, en)
			lines = append(lines, en.line)
		}
	}
	if len(live) == 0 {
		delete(e.keys, k)
	} else {
		e.keys[k] = live
	}
	return lines
}

// InstanceConnectKeys returns the authorized_keys lines pushed with
// SendSSHPublicKey for an instance and OS user that are still valid now
// (by the server's clock), for the built-in SSH server.
func (s *Server) InstanceConnectKeys(instanceID, osUser string) []string {
	return s.eic.valid(eicKey{instanceID, osUser}, s.clock())
}

type sendSSHPublicKeyInput struct {
	InstanceID       string `json:"InstanceId"`
	InstanceOSUser   string `json:"InstanceOSUser"`
	SSHPublicKey     string `json:"SSHPublicKey"`
	AvailabilityZone string `json:"AvailabilityZone"`
}

var osUserPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9@._-]{0,30}[A-Za-z0-9$_-]?$`)

func (s *Server) eicSendSSHPublicKey(c *call, in *sendSSHPublicKeyInput) (any, error) {
	if err := c.checkDenied(s.targetARN(in.InstanceID)); err != nil {
		return nil, err
	}
	if !ec2IDPattern.MatchString(in.InstanceID) {
		return nil, apiErr("InvalidArgsException", "Instance ID %s is not valid: expected i- followed by 8 or 17 hexadecimal digits.", in.InstanceID)
	}
	if !osUserPattern.MatchString(in.InstanceOSUser) {
		return nil, apiErr("InvalidArgsException", "The OS user %q is not a valid user name.", in.InstanceOSUser)
	}
	line, err := checkInstanceConnectKey(in.SSHPublicKey)
	if err != nil {
		return nil, err
	}
	inst, ok := s.fleet.Instance(in.InstanceID)
	if !ok {
		return nil, apiErr("EC2InstanceNotFoundException", "Instance not found")
	}
	if inst.State != StateRunning {
		return nil, apiErr("EC2InstanceStateInvalidException", "Instance %s is %s: keys can only be sent to running instances.", inst.InstanceID, inst.State)
	}
	if in.AvailabilityZone != "" && in.AvailabilityZone != s.availabilityZone(&inst) {
		return nil, apiErr("InvalidArgsException", "Instance %s is not in Availability Zone %s.", inst.InstanceID, in.AvailabilityZone)
	}
	s.eic.add(eicKey{inst.InstanceID, in.InstanceOSUser}, line, c.now.Add(InstanceConnectKeyTTL))
	s.logf("ssmtest: instance connect: key for %s@%s valid for %v", in.InstanceOSUser, inst.InstanceID, InstanceConnectKeyTTL)
	return struct {
		RequestID string `json:"RequestId"`
		Success   bool
	}{uuid.NewString(), true}, nil
}

// checkInstanceConnectKey accepts the key types EC2 Instance Connect
// takes (RSA of at least 2048 bits, ED25519, ECDSA) in OpenSSH format and
// returns it as an authorized_keys line.
func checkInstanceConnectKey(text string) (string, error) {
	bad := apiErr("InvalidArgsException",
		"The SSH public key is not valid: it must be an OpenSSH-format RSA (2048 bits or more), ED25519 or ECDSA public key.")
	if len(text) < 80 || len(text) > 4096 {
		return "", bad
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(text))
	if err != nil {
		return "", bad
	}
	switch pub.Type() {
	case ssh.KeyAlgoRSA:
		ck, ok := pub.(ssh.CryptoPublicKey)
		if !ok {
			return "", bad
		}
		if rk, ok := ck.CryptoPublicKey().(*rsa.PublicKey); !ok || rk.N.BitLen() < 2048 {
			return "", bad
		}
	case ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521:
	default:
		return "", bad
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))), nil
}

// availabilityZone is the instance's zone (default <region>a).
func (s *Server) availabilityZone(inst *Instance) string {
	if inst.AvailabilityZone != "" {
		return inst.AvailabilityZone
	}
	return s.region + "a"
}
