package ssmtest

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/ssmssh/ssmssh/protocol"
)

// startStream starts a port session on InstanceAmazonLinux through the
// API and returns its id, stream URL and token; the session is
// terminated when the test ends.
func startStream(t *testing.T, s *Server, cfg aws.Config) (id, streamURL, token string) {
	t.Helper()
	api := ssm.NewFromConfig(cfg)
	out, err := api.StartSession(t.Context(), &ssm.StartSessionInput{
		Target: aws.String(InstanceAmazonLinux), DocumentName: aws.String("AWS-StartSSHSession"),
		Parameters: map[string][]string{"portNumber": {"22"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = api.TerminateSession(context.Background(), &ssm.TerminateSessionInput{SessionId: out.SessionId})
	})
	return *out.SessionId, *out.StreamUrl, *out.TokenValue
}

// dialStream opens the client's data channel at streamURL, as
// protocol.DialDataChannel does for ssmclient.
func dialStream(t *testing.T, s *Server, streamURL, token string, opts protocol.DialOptions) error {
	t.Helper()
	opts.ClientVersion = protocol.ClientVersion
	opts.TLSConfig = s.ClientTLSConfig()
	opts.Logf = t.Logf
	tr, err := protocol.DialDataChannel(t.Context(), streamURL, token, opts)
	if err == nil {
		tr.Close()
	}
	return err
}

// signedHeader is the header of an upgrade of streamURL signed with the
// SDK's signer for service and region at signingTime.
func signedHeader(t *testing.T, streamURL string, creds aws.Credentials, service, region string, signingTime time.Time) http.Header {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, streamURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, emptyPayload, service, region, signingTime); err != nil {
		t.Fatal(err)
	}
	return req.Header
}

// wantRefused asserts that err is the gateway's 403 with code in its body
// and message in its message.
func wantRefused(t *testing.T, err error, code, message string) {
	t.Helper()
	var de *protocol.DialError
	if !errors.As(err, &de) {
		t.Fatalf("dial error %v (%T), want a *protocol.DialError", err, err)
	}
	if de.StatusCode != http.StatusForbidden || de.Code != code || !strings.Contains(de.Message, message) {
		t.Fatalf("refusal %d %q %q, want 403 %s with %q", de.StatusCode, de.Code, de.Message, code, message)
	}
	if strings.Contains(de.Error(), "\n") {
		t.Errorf("refusal is not one line: %q", de.Error())
	}
}

var userCreds = aws.Credentials{AccessKeyID: FakeAccessKeyID, SecretAccessKey: FakeSecretAccessKey}

// TestGatewayChecksUpgradeSignature: the gateway accepts the client's
// upgrade signed as protocol signs it, and refuses every other one with
// 403 and the service's error, before any websocket is opened.
func TestGatewayChecksUpgradeSignature(t *testing.T) {
	clock := newFakeClock()
	s, cfg := startServer(t, Options{Clock: clock.Now})
	region := s.Region()
	static := func(akid, secret, token string) aws.CredentialsProvider {
		return credentials.NewStaticCredentialsProvider(akid, secret, token)
	}

	t.Run("ours", func(t *testing.T) {
		_, u, tok := startStream(t, s, cfg)
		if err := dialStream(t, s, u, tok, protocol.DialOptions{Credentials: cfg.Credentials, Region: region, Now: clock.Now}); err != nil {
			t.Fatalf("signed upgrade refused: %v", err)
		}
	})
	t.Run("unsigned", func(t *testing.T) {
		_, u, tok := startStream(t, s, cfg)
		wantRefused(t, dialStream(t, s, u, tok, protocol.DialOptions{}), "BadRequest", "Request is not authenticated.")
	})
	refusals := []struct {
		name, code, message string
		opts                protocol.DialOptions
		header              func(u string) http.Header
	}{
		{name: "wrong secret", code: "InvalidSignatureException", message: "signature we calculated does not match",
			opts: protocol.DialOptions{Credentials: static(FakeAccessKeyID, "not-the-secret", ""), Region: region, Now: clock.Now}},
		{name: "wrong region", code: "InvalidSignatureException", message: "scoped to a valid region",
			opts: protocol.DialOptions{Credentials: cfg.Credentials, Region: "eu-north-1", Now: clock.Now}},
		{name: "unknown key", code: "UnrecognizedClientException", message: "security token included in the request is invalid",
			opts: protocol.DialOptions{Credentials: static("AKIANOTKNOWNHERE0000", FakeSecretAccessKey, ""), Region: region, Now: clock.Now}},
		{name: "clock skew", code: "InvalidSignatureException", message: "Signature expired",
			opts: protocol.DialOptions{Credentials: cfg.Credentials, Region: region,
				Now: func() time.Time { return clock.Now().Add(-6 * time.Minute) }}},
		{name: "clock ahead", code: "InvalidSignatureException", message: "Signature not yet current",
			opts: protocol.DialOptions{Credentials: cfg.Credentials, Region: region,
				Now: func() time.Time { return clock.Now().Add(6 * time.Minute) }}},
		{name: "wrong service", code: "InvalidSignatureException", message: "scoped to correct service",
			header: func(u string) http.Header { return signedHeader(t, u, userCreds, "ssm", region, clock.Now()) }},
		{name: "other URL", code: "InvalidSignatureException", message: "signature we calculated does not match",
			header: func(u string) http.Header {
				return signedHeader(t, strings.Replace(u, "role=publish_subscribe", "role=subscribe", 1), userCreds, protocol.SigningName, region, clock.Now())
			}},
		{name: "mangled header", code: "IncompleteSignatureException", message: "requires 'Signature' parameter",
			header: func(u string) http.Header {
				h := signedHeader(t, u, userCreds, protocol.SigningName, region, clock.Now())
				auth, _, _ := strings.Cut(h.Get("Authorization"), ", Signature=")
				h.Set("Authorization", auth)
				return h
			}},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			_, u, tok := startStream(t, s, cfg)
			opts := tt.opts
			if tt.header != nil {
				opts.Header = tt.header(u)
			}
			wantRefused(t, dialStream(t, s, u, tok, opts), tt.code, tt.message)
			// The token was not spent by the refusal: a right signature
			// still opens the channel.
			if err := dialStream(t, s, u, tok, protocol.DialOptions{Credentials: cfg.Credentials, Region: region, Now: clock.Now}); err != nil {
				t.Errorf("signed upgrade after a refused one: %v", err)
			}
		})
	}
}

// TestGatewayTemporaryCredentials: temporary credentials sign until they
// expire on the server's clock; a wrong session token or an expiry by
// fault is refused like AWS refuses them, at the gateway and at the API.
func TestGatewayTemporaryCredentials(t *testing.T) {
	clock := newFakeClock()
	s, cfg := startServer(t, Options{Clock: clock.Now})
	tc := s.TemporaryCredentials(time.Hour)
	provider := credentials.NewStaticCredentialsProvider(tc.AccessKeyID, tc.SecretAccessKey, tc.SessionToken)
	opts := protocol.DialOptions{Credentials: provider, Region: s.Region(), Now: clock.Now}

	_, u, tok := startStream(t, s, cfg)
	bad := opts
	bad.Credentials = credentials.NewStaticCredentialsProvider(tc.AccessKeyID, tc.SecretAccessKey, tc.SessionToken+"x")
	wantRefused(t, dialStream(t, s, u, tok, bad), "UnrecognizedClientException", "invalid")
	if err := dialStream(t, s, u, tok, opts); err != nil {
		t.Fatalf("upgrade signed with valid temporary credentials: %v", err)
	}

	api := cfg.Copy()
	api.Credentials = provider
	if _, err := sts.NewFromConfig(api).GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("API call with valid temporary credentials: %v", err)
	}

	id, u, tok := startStream(t, s, cfg)
	clock.Advance(time.Hour)
	wantRefused(t, dialStream(t, s, u, tok, opts), "ExpiredTokenException", "security token included in the request is expired")
	_, err := ssm.NewFromConfig(api).ResumeSession(t.Context(), &ssm.ResumeSessionInput{SessionId: &id})
	if e := apiCode(t, err, "ExpiredTokenException"); !strings.Contains(e.ErrorMessage(), "expired") {
		t.Errorf("ResumeSession with expired credentials: %v", err)
	}
	_, err = sts.NewFromConfig(api).GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	apiCode(t, err, "ExpiredToken")

	// The user's own credentials expire by fault, and come back.
	s.Faults().ExpireCredentials(FakeAccessKeyID, true)
	_, err = ssm.NewFromConfig(cfg).ResumeSession(t.Context(), &ssm.ResumeSessionInput{SessionId: &id})
	apiCode(t, err, "ExpiredTokenException")
	userOpts := protocol.DialOptions{Credentials: cfg.Credentials, Region: s.Region(), Now: clock.Now}
	wantRefused(t, dialStream(t, s, u, tok, userOpts), "ExpiredTokenException", "expired")
	s.Faults().ExpireCredentials(FakeAccessKeyID, false)
	if err := dialStream(t, s, u, tok, userOpts); err != nil {
		t.Fatalf("upgrade after the fault is cleared: %v", err)
	}
}

// TestGatewayPresignedStreamURL: with Options.PresignStreamURLs the stream
// URL carries its signature; protocol does not sign it again, the gateway
// accepts it until it expires, and refuses one tampered with.
func TestGatewayPresignedStreamURL(t *testing.T) {
	clock := newFakeClock()
	s, cfg := startServer(t, Options{Clock: clock.Now, PresignStreamURLs: true})
	_, u, tok := startStream(t, s, cfg)
	if !protocol.IsPresignedURL(u) {
		t.Fatalf("stream URL %q is not presigned", u)
	}
	// ssmclient passes credentials; they must not be used for a
	// presigned URL (a second signature would be refused).
	if err := dialStream(t, s, u, tok, protocol.DialOptions{Credentials: cfg.Credentials, Region: s.Region(), Now: clock.Now}); err != nil {
		t.Fatalf("presigned stream URL refused: %v", err)
	}

	_, u, tok = startStream(t, s, cfg)
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := pu.Query()
	sig := []byte(q.Get("X-Amz-Signature"))
	sig[0] ^= 1
	q.Set("X-Amz-Signature", string(sig))
	tampered := *pu
	tampered.RawQuery = q.Encode()
	wantRefused(t, dialStream(t, s, tampered.String(), tok, protocol.DialOptions{}), "InvalidSignatureException", "does not match")
	q = pu.Query()
	q.Set("cell-number", "other")
	tampered.RawQuery = q.Encode()
	wantRefused(t, dialStream(t, s, tampered.String(), tok, protocol.DialOptions{}), "InvalidSignatureException", "does not match")

	clock.Advance(presignTTL + time.Second)
	wantRefused(t, dialStream(t, s, u, tok, protocol.DialOptions{}), "AccessDeniedException", "expired")
}

// TestGatewayAgentFaceSigned: the agent's channel requests are checked as
// the client's are; built-in agents sign them (every other test relies on
// that); Options.AllowUnsignedGateway lets unsigned peers in.
func TestGatewayAgentFaceSigned(t *testing.T) {
	const body = `{"MessageSchemaVersion":"1.0","RequestId":"0","ClientId":"x"}`
	path := "/v1/control-channel/" + InstanceAmazonLinux
	s, _ := startServer(t, Options{})
	status, answer := rawRequest(t, s, path, nil, body)
	if status != http.StatusForbidden || !strings.Contains(answer, `<BadRequest xmlns=""><message>`) || !strings.Contains(answer, ": Request is not authenticated.</message></BadRequest>") {
		t.Errorf("unsigned CreateControlChannel: %d %s", status, answer)
	}
	code, msg := protocol.ParseServiceError(http.Header{}, []byte(answer))
	if code != "BadRequest" || !strings.HasSuffix(msg, "Request is not authenticated.") {
		t.Errorf("the refusal parses as %q %q", code, msg)
	}

	open, _ := startServer(t, Options{AllowUnsignedGateway: true})
	if status, answer := rawRequest(t, open, path, nil, body); status != http.StatusCreated {
		t.Errorf("unsigned CreateControlChannel with AllowUnsignedGateway: %d %s", status, answer)
	}
}

// TestGatewayUnsignedAllowed: with AllowUnsignedGateway a client that does
// not sign (an official plugin older than 1.2.764.0) opens its channel.
func TestGatewayUnsignedAllowed(t *testing.T) {
	s, cfg := startServer(t, Options{AllowUnsignedGateway: true})
	_, u, tok := startStream(t, s, cfg)
	if err := dialStream(t, s, u, tok, protocol.DialOptions{}); err != nil {
		t.Fatalf("unsigned upgrade with AllowUnsignedGateway: %v", err)
	}
}

// FuzzVerifySignature: no Authorization header or presigned query makes
// the check panic, and none signed without the secret passes.
func FuzzVerifySignature(f *testing.F) {
	s, err := NewServer(Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	now := s.clock().UTC().Format(amzDateFormat)
	day := now[:8]
	f.Add("AWS4-HMAC-SHA256 Credential="+FakeAccessKeyID+"/"+day+"/us-east-1/ssmmessages/aws4_request, SignedHeaders=host;x-amz-date, Signature=00", now, "role=publish_subscribe")
	f.Add("AWS4-HMAC-SHA256 Credential=/, SignedHeaders=, Signature=", "", "")
	f.Add("AWS4-HMAC-SHA256", "2", "")
	f.Add("", now, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="+FakeAccessKeyID+"%2F"+day+"%2Fus-east-1%2Fssmmessages%2Faws4_request&X-Amz-Date="+now+"&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=ab")
	f.Add("", "", "X-Amz-Credential=a/b/c/d/aws4_request&X-Amz-Expires=-1")
	f.Fuzz(func(t *testing.T, auth, date, query string) {
		r, err := http.NewRequest(http.MethodGet, "https://127.0.0.1/v1/data-channel/s-1?"+query, nil)
		if err != nil {
			return
		}
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		if date != "" {
			r.Header.Set("X-Amz-Date", date)
		}
		if e := s.verifySignature(r, nil); e == nil {
			t.Fatalf("accepted Authorization %q, X-Amz-Date %q, query %q", auth, date, query)
		}
	})
}
