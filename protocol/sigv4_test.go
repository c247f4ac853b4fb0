package protocol

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

func TestIsPresignedURL(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want bool
	}{
		{"wss://ssmmessages.us-east-1.amazonaws.com/v1/data-channel/s-1?role=publish_subscribe&cell-number=AAEA", false},
		{"wss://h/v1/data-channel/s-1?role=publish_subscribe&X-Amz-Signature=abc", true},
		{"wss://h/v1/data-channel/s-1?X-Amz-Algorithm=AWS4-HMAC-SHA256", true},
		{"wss://h/v1/data-channel/s-1?X-Amz-Security-Token=", true}, // present, even empty
		{"wss://h/v1/data-channel/s-1?x-amz-signature=abc", false},  // the names are case-sensitive, as the plugin's
		{"wss://h/v1/data-channel/X-Amz-Signature", false},          // the path does not count
		{"://bad", false},
	} {
		if got := IsPresignedURL(tc.url); got != tc.want {
			t.Errorf("IsPresignedURL(%q) = %v, want %v", tc.url, got, tc.want)
		}
	}
}

// countingCreds hands out the credentials it holds and counts retrievals.
type countingCreds struct {
	mu    sync.Mutex
	creds aws.Credentials
	err   error
	n     atomic.Int32
}

func (c *countingCreds) Retrieve(context.Context) (aws.Credentials, error) {
	c.n.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.creds, c.err
}

func (c *countingCreds) set(creds aws.Credentials) {
	c.mu.Lock()
	c.creds = creds
	c.mu.Unlock()
}

// checkSignedUpgrade recomputes the signature of a received upgrade with
// the SDK's signer, as a server holding the secret would, and fails when
// the request is not signed for ssmmessages in region by creds.
func checkSignedUpgrade(t *testing.T, r *http.Request, creds aws.Credentials, region string) {
	t.Helper()
	auth := r.Header.Get("Authorization")
	date := r.Header.Get("X-Amz-Date")
	signingTime, err := time.Parse("20060102T150405Z", date)
	if err != nil {
		t.Fatalf("X-Amz-Date %q: %v", date, err)
	}
	if d := time.Since(signingTime); d < -time.Minute || d > time.Minute {
		t.Errorf("signed %v ago", d)
	}
	wantScope := fmt.Sprintf("Credential=%s/%s/%s/ssmmessages/aws4_request,", creds.AccessKeyID, date[:8], region)
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 ") || !strings.Contains(auth, wantScope) {
		t.Errorf("Authorization %q does not have scope %q", auth, wantScope)
	}
	signed := "SignedHeaders=host;x-amz-date,"
	if creds.SessionToken != "" {
		signed = "SignedHeaders=host;x-amz-date;x-amz-security-token,"
	}
	if !strings.Contains(auth, signed) {
		t.Errorf("Authorization %q: want %s", auth, signed)
	}
	if got := r.Header.Get("X-Amz-Security-Token"); got != creds.SessionToken {
		t.Errorf("X-Amz-Security-Token = %q, want %q", got, creds.SessionToken)
	}
	// The same request, signed again by the server's side.
	again, _ := http.NewRequest(http.MethodGet, "wss://"+r.Host+r.URL.RequestURI(), nil)
	again.Host = r.Host
	if err := v4.NewSigner().SignHTTP(t.Context(), creds, again, emptyPayloadHash, "ssmmessages", region, signingTime); err != nil {
		t.Fatal(err)
	}
	if want := again.Header.Get("Authorization"); auth != want {
		t.Errorf("signature does not verify:\n got %s\nwant %s", auth, want)
	}
}

// DialDataChannel signs the upgrade with the SDK's v4 signer, retrieving
// the credentials at each dial, still sends the token, and logs neither
// the signature nor the credentials.
func TestDialSignsUpgrade(t *testing.T) {
	const token = "tok-SECRET-sign"
	reqs := make(chan *http.Request, 4)
	s := newRecordingWSServer(t, nil, reqs)
	first := aws.Credentials{AccessKeyID: "AKIDFIRST", SecretAccessKey: "secret-FIRST-xyz", SessionToken: "session-token-FIRST"}
	second := aws.Credentials{AccessKeyID: "AKIDSECOND", SecretAccessKey: "secret-SECOND-xyz"}
	creds := &countingCreds{creds: first}
	var logs strings.Builder
	var logMu sync.Mutex
	opts := DialOptions{CABundle: s.caFile, PingInterval: -1, Credentials: creds, Region: "eu-west-3",
		Header: http.Header{"X-Extra": {"1"}},
		Logf:   func(f string, a ...any) { logMu.Lock(); fmt.Fprintf(&logs, f+"\n", a...); logMu.Unlock() }}

	for i, want := range []aws.Credentials{first, second} {
		creds.set(want)
		ct, err := DialDataChannel(t.Context(), s.url, token, opts)
		if err != nil {
			t.Fatal(err)
		}
		a := s.accept(t)
		ct.Close()
		r := <-reqs
		checkSignedUpgrade(t, r, want, "eu-west-3")
		if r.Header.Get("X-Extra") != "1" {
			t.Errorf("DialOptions.Header was not sent")
		}
		if !strings.Contains(string(a.first), token) {
			t.Errorf("dial %d: the opening frame lacks the token: %s", i, a.first)
		}
		if n := creds.n.Load(); n != int32(i+1) {
			t.Errorf("after %d dials the credentials were retrieved %d times", i+1, n)
		}
	}
	if opts.Header.Get("Authorization") != "" {
		t.Error("DialDataChannel wrote into the caller's Header")
	}
	logMu.Lock()
	defer logMu.Unlock()
	for _, secret := range []string{"secret-FIRST", "secret-SECOND", "session-token-FIRST", "Signature=", token} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log shows %q:\n%s", secret, logs.String())
		}
	}
	if regexp.MustCompile(`[0-9a-f]{64}`).MatchString(logs.String()) {
		t.Errorf("the log shows something like a signature:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "signed with SigV4 (ssmmessages, eu-west-3)") {
		t.Errorf("the log does not say the upgrade was signed:\n%s", logs.String())
	}
}

// A presigned stream URL is dialled as it is: no Authorization header,
// no credential lookup, the token still sent.
func TestDialPresignedNotSignedAgain(t *testing.T) {
	reqs := make(chan *http.Request, 1)
	s := newRecordingWSServer(t, nil, reqs)
	creds := &countingCreds{creds: aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "s"}}
	u := s.url + "&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=0123"
	ct, err := DialDataChannel(t.Context(), u, "tok-presigned", DialOptions{CABundle: s.caFile, PingInterval: -1, Credentials: creds, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	defer ct.Close()
	a := s.accept(t)
	r := <-reqs
	if r.Header.Get("Authorization") != "" || r.Header.Get("X-Amz-Date") != "" {
		t.Errorf("a presigned URL was signed again: %v", r.Header)
	}
	if r.URL.Query().Get("X-Amz-Signature") != "0123" {
		t.Errorf("the presigned query was not sent as it was: %s", r.URL.RawQuery)
	}
	if creds.n.Load() != 0 {
		t.Errorf("credentials were retrieved for a presigned URL")
	}
	if !strings.Contains(string(a.first), "tok-presigned") {
		t.Errorf("the opening frame lacks the token: %s", a.first)
	}
}

// Without credentials the dial fails before any request, naming why;
// with none configured (nil) the upgrade goes unsigned.
func TestDialCredentialsFailure(t *testing.T) {
	s := newWSServer(t, nil)
	creds := &countingCreds{err: errors.New("the SSO session has expired")}
	_, err := DialDataChannel(t.Context(), s.url, "tok", DialOptions{CABundle: s.caFile, Credentials: creds, Region: "us-east-1"})
	var de *DialError
	if !errors.As(err, &de) || de.StatusCode != 0 || !strings.Contains(err.Error(), "sign the upgrade: retrieve credentials: the SSO session has expired") {
		t.Fatalf("err = %v", err)
	}
	creds = &countingCreds{} // no keys
	if _, err := DialDataChannel(t.Context(), s.url, "tok", DialOptions{CABundle: s.caFile, Credentials: creds, Region: "us-east-1"}); !errors.Is(err, ErrNoCredentials) {
		t.Fatalf("empty credentials: err = %v, want ErrNoCredentials", err)
	}
	select {
	case <-s.accepted:
		t.Fatal("a dial without credentials reached the server")
	default:
	}
}

// A refused upgrade carries the AWS error of the answer, on one line, and
// not the canonical request AWS appends to signature errors.
func TestDialRefusedSignature(t *testing.T) {
	const body = `{"__type":"com.amazon.coral.service#InvalidSignatureException","message":"The request signature we calculated does not match the signature you provided.\n\nThe Canonical String for this request should have been\n'GET\n/v1/data-channel/s-123\nx-amz-security-token:SECRET-TOKEN'"}`
	s := newWSServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(body))
	})
	creds := &countingCreds{creds: aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "s", SessionToken: "SECRET-TOKEN"}}
	_, err := DialDataChannel(t.Context(), s.url, "tok", DialOptions{CABundle: s.caFile, Credentials: creds, Region: "us-east-1"})
	var de *DialError
	if !errors.As(err, &de) || !de.Refused() || de.Code != "InvalidSignatureException" ||
		de.Message != "The request signature we calculated does not match the signature you provided." {
		t.Fatalf("err = %#v", err)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") || strings.Contains(msg, "SECRET-TOKEN") || strings.Contains(msg, "Canonical") {
		t.Errorf("error text %q", msg)
	}
	if want := "403 Forbidden: InvalidSignatureException: The request signature we calculated"; !strings.Contains(msg, want) {
		t.Errorf("error text %q lacks %q", msg, want)
	}
}

func TestParseServiceError(t *testing.T) {
	for _, tc := range []struct {
		header     http.Header
		body       string
		code, mess string
	}{
		{nil, `<BadRequest xmlns=""><message>964c3550: Request is not authenticated.</message></BadRequest>`, "BadRequest", "964c3550: Request is not authenticated."},
		{nil, `{"__type":"ExpiredTokenException","message":"The security token included in the request is expired"}`, "ExpiredTokenException", "The security token included in the request is expired"},
		{nil, `{"message":"Missing Authentication Token"}`, "", "Missing Authentication Token"},
		{http.Header{"X-Amzn-Errortype": {"UnrecognizedClientException:http://internal"}}, `{"Message":"The security token included in the request is invalid."}`, "UnrecognizedClientException", "The security token included in the request is invalid."},
		{nil, `<ErrorResponse><Error><Type>Sender</Type><Code>ExpiredToken</Code><Message>expired</Message></Error></ErrorResponse>`, "ExpiredToken", "expired"},
		{nil, `<Response><Errors><Error><Code>AuthFailure</Code><Message>no</Message></Error></Errors></Response>`, "AuthFailure", "no"},
		{nil, `<Error><Message>no code</Message></Error>`, "", ""},
		{nil, `invalid or expired token`, "", ""},
		{nil, ``, "", ""},
		{nil, `{"__type":`, "", ""},
		{nil, `{"__type":"X","message":"` + strings.Repeat("é", 400) + `"}`, "X", strings.Repeat("é", maxErrorText/2) + "…"},
	} {
		code, msg := ParseServiceError(tc.header, []byte(tc.body))
		if code != tc.code || msg != tc.mess {
			t.Errorf("ParseServiceError(%q) = %q, %q; want %q, %q", tc.body, code, msg, tc.code, tc.mess)
		}
	}
}

func FuzzParseServiceError(f *testing.F) {
	f.Add("", `<BadRequest xmlns=""><message>964c3550: Request is not authenticated.</message></BadRequest>`)
	f.Add("InvalidSignatureException", `{"__type":"a#InvalidSignatureException","message":"x\ny"}`)
	f.Add("", `<ErrorResponse><Error><Code>C</Code><Message>M</Message></Error></ErrorResponse>`)
	f.Fuzz(func(t *testing.T, errType, body string) {
		h := http.Header{}
		if errType != "" {
			h.Set("X-Amzn-ErrorType", errType)
		}
		code, msg := ParseServiceError(h, []byte(body))
		if strings.ContainsAny(msg, "\r\n") || len(msg) > maxErrorText+len("…") {
			t.Errorf("message %q is not one short line", msg)
		}
		if strings.Contains(code, "#") || len(code) > 100+len("…") {
			t.Errorf("code %q", code)
		}
	})
}
