package protocol

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Signing the data channel.
//
// Session Manager's message gateway (signing name "ssmmessages") takes
// SigV4 on the websocket upgrade, the GET on the StreamUrl. Plugin
// releases from 1.2.764.0 sign it (the plugin's
// src/communicator/websocketchannel.go and
// src/sessionmanagerplugin/session/sessionhandler.go): with the
// credentials of the profile the AWS CLI named, retrieved again before
// every open and every resume, for the region the CLI passed, over a bare
// GET of the StreamUrl with an empty payload. They do not sign when the
// StreamUrl is presigned, which they recognise by any of the X-Amz-*
// signing parameters in its query. The token of OpenDataChannelInput is
// sent either way.
//
// The agent signs the same way, with its instance's credentials, both its
// channel POSTs (over the JSON body) and its websocket upgrades
// (amazon-ssm-agent agent/session/communicator/websocketchannel.go and
// agent/session/service/service.go).

// SigningName is the SigV4 signing name of Session Manager's message
// gateway.
const SigningName = "ssmmessages"

// emptyPayloadHash is the SHA-256 of an empty body, which a GET signs.
const emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// presignParams are the query parameters of a presigned URL; any one of
// them makes the plugin take a URL for presigned.
var presignParams = []string{
	"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
	"X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token",
}

// IsPresignedURL reports whether rawURL carries a SigV4 signature in its
// query, so that its upgrade must not be signed again. A URL that does not
// parse is not presigned.
func IsPresignedURL(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil {
		return false
	}
	q := u.Query()
	for _, p := range presignParams {
		if _, ok := q[p]; ok {
			return true
		}
	}
	return false
}

// ErrNoCredentials is wrapped by SignRequest's error when the credentials
// provider yields no access key.
var ErrNoCredentials = errors.New("no AWS credentials to sign with")

// SignRequest signs req in place with SigV4 for the message gateway
// (SigningName) in region, with credentials retrieved from creds now, over
// body (nil: an empty payload). It sets X-Amz-Date, X-Amz-Security-Token
// (for temporary credentials) and Authorization; every header already on
// req is signed. now nil means time.Now.
func SignRequest(ctx context.Context, req *http.Request, body []byte, creds aws.CredentialsProvider, region string, now func() time.Time) error {
	if creds == nil {
		return ErrNoCredentials
	}
	c, err := creds.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("retrieve credentials: %w", err)
	}
	if !c.HasKeys() {
		return ErrNoCredentials
	}
	if now == nil {
		now = time.Now
	}
	hash := emptyPayloadHash
	if len(body) > 0 {
		sum := sha256.Sum256(body)
		hash = hex.EncodeToString(sum[:])
	}
	return v4.NewSigner().SignHTTP(ctx, c, req, hash, SigningName, region, now())
}

// upgradeHeader returns the headers of a signed upgrade of streamURL: a
// copy of extra with X-Amz-Date, X-Amz-Security-Token and Authorization
// added.
func upgradeHeader(ctx context.Context, streamURL string, extra http.Header, opts DialOptions) (http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, streamURL, nil)
	if err != nil {
		return nil, err
	}
	if err := SignRequest(ctx, req, nil, opts.Credentials, opts.Region, opts.Now); err != nil {
		return nil, err
	}
	h := extra.Clone()
	if h == nil {
		h = make(http.Header)
	}
	for k, v := range req.Header {
		h[k] = v
	}
	return h, nil
}
