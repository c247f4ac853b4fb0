package ssmclient

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"

	"github.com/ssmssh/ssmssh/protocol"
)

// Resuming a session.
//
// The service closes data-channel websockets about every hour, and
// networks drop them; the client then calls ResumeSession for a new token
// and stream URL and opens a websocket there, signed with the credentials
// current at that moment, as plugin releases from 1.2.764.0 do (they
// retrieve the credentials again before every resume:
// src/sessionmanagerplugin/session/sessionhandler.go).
//
// Temporary credentials (SSO, assumed roles, exported session tokens) may
// expire while a session is open: ResumeSession is then refused with 403
// ExpiredTokenException (session-manager-plugin issue 136), or the
// gateway refuses the signature. The client drops its cached credentials,
// retrieves them again and tries once more; if the credentials are still
// expired it ends the session, saying so.

// resume replaces a dropped data channel: ResumeSession, then a websocket
// at the new stream URL, once more with refreshed credentials when those
// expired. Errors that no retry can mend (see permanent) wrap
// protocol.ErrReconnectRefused, so the session ends at once instead of
// after every reconnect attempt.
func (c *Client) resume(ctx context.Context, sid string, opts protocol.DialOptions, logf func(string, ...any)) (protocol.Transport, error) {
	tr, err := c.resumeOnce(ctx, sid, opts)
	if credentialsExpired(err) {
		logf("ssmclient: session %s: the AWS credentials have expired; retrieving them again", sid)
		c.RefreshCredentials()
		tr, err = c.resumeOnce(ctx, sid, opts)
		if credentialsExpired(err) {
			op := "SSM ResumeSession"
			var de *protocol.DialError
			if errors.As(err, &de) {
				op = opOpenDataChannel
			}
			return nil, refused{&Error{Op: op, Code: CodeExpiredToken, Err: err,
				Hint: "your AWS credentials expired while the session was open, and fresh ones could not be obtained: renew them (aws sso login, or new temporary credentials in the environment or profile) and reconnect"}}
		}
	}
	if permanent(err) {
		return nil, refused{err}
	}
	return tr, err
}

func (c *Client) resumeOnce(ctx context.Context, sid string, opts protocol.DialOptions) (protocol.Transport, error) {
	rs, err := c.SSM.ResumeSession(ctx, &ssm.ResumeSessionInput{SessionId: &sid})
	if err != nil {
		var apiErr smithy.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode() == "DoesNotExistException" {
			return nil, refused{Explain(err)} // the session is over
		}
		return nil, Explain(err)
	}
	if rs.StreamUrl == nil || rs.TokenValue == nil {
		return nil, errors.New("ssmclient: ResumeSession answered without a stream URL or token")
	}
	tr, err := protocol.DialDataChannel(ctx, *rs.StreamUrl, *rs.TokenValue, opts)
	if err != nil {
		if e := explainDial(err); e != nil {
			return nil, e
		}
		return nil, fmt.Errorf("ssmclient: resume the data channel of %s: %w", sid, err)
	}
	return tr, nil
}

// RefreshCredentials drops the cached credentials of the client's
// configuration (an aws.CredentialsCache, as config.LoadDefaultConfig
// builds), so that the next call retrieves them again: an SSO cache
// refreshed by `aws sso login`, a role assumed anew, a credentials file
// rewritten. Other providers are asked at every call anyway.
func (c *Client) RefreshCredentials() {
	if cache, ok := c.Config.Credentials.(*aws.CredentialsCache); ok {
		cache.Invalidate()
	}
}

// credentialsExpired reports whether err says that the credentials have
// expired, from an API or from the gateway.
func credentialsExpired(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == CodeExpiredToken
}

// permanent reports whether err is a refusal that the same client cannot
// overcome by trying again within the reconnect backoff: credentials that
// AWS does not recognise or that are missing, an SSO session to log in
// again, a policy denial, a signature the gateway refuses.
func permanent(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code {
	case CodeBadCredentials, CodeSignatureRefused, CodeAccessDenied, CodeNoCredentials, CodeSSOLogin:
		return true
	}
	return false
}

// refused is an error no further reconnect attempt can mend.
type refused struct{ error }

func (r refused) Unwrap() []error { return []error{r.error, protocol.ErrReconnectRefused} }
