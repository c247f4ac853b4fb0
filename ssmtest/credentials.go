package ssmtest

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// The credentials the emulator knows. API calls are not checked against
// them beyond expiry (any access key may call the APIs, as before), but
// the gateway verifies signatures and needs the secret:
//
//   - FakeAccessKeyID with FakeSecretAccessKey, the user's (Env, AWSConfig);
//   - instanceKeyPrefix+<instance id> with FakeSecretAccessKey, a built-in
//     agent's instance-profile credentials;
//   - temporary credentials from TemporaryCredentials, with their session
//     token, until they expire on the server's clock.
//
// Any of them expires on demand with Faults.ExpireCredentials.

// temporaryKeyPrefix starts the access key id of temporary credentials,
// as STS's start with ASIA.
const temporaryKeyPrefix = "ASIASSMTEST"

type temporaryCredentials struct {
	secret, token string
	expires       time.Time
}

type credentialStore struct {
	mu        sync.Mutex
	temporary map[string]temporaryCredentials // access key id → its credentials
}

// TemporaryCredentials issues temporary credentials (an access key id, a
// secret and a session token, as STS hands out) that the server accepts
// for ttl on its clock (Options.Clock); then API calls and gateway
// requests signed with them are refused with ExpiredTokenException, as
// AWS refuses expired credentials. Tests use them to make a client's
// credentials expire mid-session and to hand it fresh ones.
func (s *Server) TemporaryCredentials(ttl time.Duration) aws.Credentials {
	id := make([]byte, 10)
	secret := make([]byte, 30)
	token := make([]byte, 96)
	_, _ = rand.Read(id)
	_, _ = rand.Read(secret)
	_, _ = rand.Read(token)
	c := aws.Credentials{
		AccessKeyID:     temporaryKeyPrefix + base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(id)[:9],
		SecretAccessKey: base64.RawStdEncoding.EncodeToString(secret),
		SessionToken:    base64.StdEncoding.EncodeToString(token),
		Source:          "ssmtest",
		CanExpire:       true,
		Expires:         s.clock().Add(ttl),
	}
	s.creds.mu.Lock()
	if s.creds.temporary == nil {
		s.creds.temporary = make(map[string]temporaryCredentials)
	}
	s.creds.temporary[c.AccessKeyID] = temporaryCredentials{secret: c.SecretAccessKey, token: c.SessionToken, expires: c.Expires}
	s.creds.mu.Unlock()
	return c
}

// Errors AWS gives for credentials it does not take.
var (
	errExpiredToken = &APIError{Code: "ExpiredTokenException",
		Message: "The security token included in the request is expired", StatusCode: http.StatusForbidden}
	errUnrecognizedClient = &APIError{Code: "UnrecognizedClientException",
		Message: "The security token included in the request is invalid.", StatusCode: http.StatusForbidden}
)

// secretFor returns the secret access key of accessKeyID, checking the
// session token the request carried. The error is UnrecognizedClient for
// a key the server does not know (or a token not its own) and
// ExpiredToken for credentials that have expired.
func (s *Server) secretFor(accessKeyID, token string, now time.Time) (string, *APIError) {
	if err := s.expired(accessKeyID, now); err != nil {
		return "", err
	}
	switch {
	case accessKeyID == FakeAccessKeyID:
		return FakeSecretAccessKey, nil
	case strings.HasPrefix(accessKeyID, instanceKeyPrefix):
		if _, ok := s.fleet.Instance(strings.TrimPrefix(accessKeyID, instanceKeyPrefix)); ok {
			return FakeSecretAccessKey, nil
		}
		return "", errUnrecognizedClient
	}
	s.creds.mu.Lock()
	t, ok := s.creds.temporary[accessKeyID]
	s.creds.mu.Unlock()
	if !ok || token != t.token {
		return "", errUnrecognizedClient
	}
	return t.secret, nil
}

// expired reports ExpiredToken for credentials expired by a fault or,
// for temporary ones, by time.
func (s *Server) expired(accessKeyID string, now time.Time) *APIError {
	if s.faults().ExpiredCredentials[accessKeyID] {
		return errExpiredToken
	}
	s.creds.mu.Lock()
	t, ok := s.creds.temporary[accessKeyID]
	s.creds.mu.Unlock()
	if ok && !now.Before(t.expires) {
		return errExpiredToken
	}
	return nil
}

// expiredCaller is the error an API call signed with expired credentials
// gets, in the service's terms (the JSON services' ExpiredTokenException,
// STS's ExpiredToken, EC2's RequestExpired), or nil.
func (s *Server) expiredCaller(r *http.Request, service string, now time.Time) *APIError {
	akid, _, _ := strings.Cut(strings.TrimSpace(credentialScope(r)), "/")
	if akid == "" || s.expired(akid, now) == nil {
		return nil
	}
	switch service {
	case "sts", "iam":
		return &APIError{Code: "ExpiredToken", Message: errExpiredToken.Message, StatusCode: http.StatusForbidden}
	case "ec2":
		return &APIError{Code: "RequestExpired", Message: "Request has expired.", StatusCode: http.StatusBadRequest}
	}
	return errExpiredToken
}
