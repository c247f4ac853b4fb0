package ssmtest

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/ssmssh/ssmssh/protocol"
)

// The gateway checks SigV4 on every request of both faces: the client's
// upgrade of its StreamUrl, and the agent's channel POSTs and upgrades.
// Plugin releases from 1.2.764.0 sign the client's upgrade, and the agent
// signs everything it sends the service (see protocol.SignRequest). A
// request passes with a valid Authorization header or a valid presigned
// query, for the service ssmmessages and the server's region, signed
// within five minutes of the server's clock (AWS's bound) by credentials
// the server knows (credentials.go). The check recomputes the signature
// with the SDK's own v4 signer over the request as received: the signed
// headers, the path and query, and the body for a POST.
//
// What a refusal looks like, known and guessed:
//
//   - Known: for an unauthenticated CreateDataChannel the service answers
//     `<BadRequest xmlns=""><message>964c3550: Request is not
//     authenticated.</message></BadRequest>` (the body as the agent quotes
//     it in amazon-ssm-agent issue 272; the hex is a request id), and
//     `<BadRequest xmlns=""><message>Unauthorized request.</message>…`
//     (issue 121); a policy denial is `<AccessDeniedException>
//     <Message>User: … is not authorized to perform:
//     ssmmessages:CreateDataChannel …</Message></AccessDeniedException>`.
//     Its ssmmessages answers are XML, as the 201 of a channel POST is.
//   - Guessed: the status, 403 as AWS uses for authentication failures
//     (the agent and the plugin report no status); that upgrades are
//     refused with the same shape before any switch of protocols; and the
//     codes and messages of the other failures, which are those of AWS's
//     JSON services (InvalidSignatureException "The request signature we
//     calculated does not match…", IncompleteSignatureException,
//     UnrecognizedClientException, ExpiredTokenException, "Signature
//     expired: … (… - 5 min.)").
//
// Options.AllowUnsignedGateway turns the check off, for a peer that cannot
// sign (an official plugin older than 1.2.764.0). Signatures, secrets and
// tokens are never logged; a refusal logs its code and message only.

// maxSkew is how far a request's X-Amz-Date may be from the server's
// clock.
const maxSkew = 5 * time.Minute

const amzDateFormat = "20060102T150405Z"

// gatewayError is a refused gateway request.
type gatewayError struct {
	code, message string
}

// errSessionTerminated answers an agent's CreateDataChannel for a session
// that has ended. amazon-ssm-agent retries a failed CreateDataChannel for
// minutes unless the error, which quotes the answer's body ("unexpected
// response from the service <body>", agent session/service/service.go),
// contains "Session is already terminated"
// (session/config.SessionAlreadyTerminatedError, the data channel's only
// non-retryable error, session/datachannel/datachannel.go): so the service
// says that. The body's shape is the gateway's known refusal shape; the
// code and the status (400) are guesses.
var errSessionTerminated = &gatewayError{"BadRequest", "Session is already terminated"}

var errNotAuthenticated = &gatewayError{"BadRequest", "Request is not authenticated."}

func invalidSignature(message string) *gatewayError {
	return &gatewayError{"InvalidSignatureException", message}
}

func incompleteSignature(message string) *gatewayError {
	return &gatewayError{"IncompleteSignatureException", message}
}

const signatureMismatch = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."

// signed wraps a gateway handler with the signature check (unless
// Options.AllowUnsignedGateway).
func (s *Server) signed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.opts.AllowUnsignedGateway {
			h(w, r)
			return
		}
		var body []byte
		if r.Body != nil && r.Method != http.MethodGet {
			body, _ = io.ReadAll(io.LimitReader(r.Body, 1<<16))
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		if e := s.verifySignature(r, body); e != nil {
			hint := ""
			if e.code == errUnrecognizedClient.Code {
				// A real agent signs with whatever its credential chain
				// finds; name the ones that pass.
				hint = " (sign with the emulator's credentials, those of its Env, or set AllowUnsignedGateway)"
			}
			s.logf("ssmtest: gateway: %s %s refused: %s: %s%s", r.Method, r.URL.Path, e.code, e.message, hint)
			writeGatewayError(w, e)
			return
		}
		h(w, r)
	}
}

// writeGatewayError answers a refused request in the gateway's XML shape.
func writeGatewayError(w http.ResponseWriter, e *gatewayError) {
	var id [4]byte
	_, _ = rand.Read(id[:])
	var msg bytes.Buffer
	_ = xml.EscapeText(&msg, []byte(hex.EncodeToString(id[:])+": "+e.message))
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("X-Amzn-ErrorType", e.code)
	status := http.StatusForbidden
	if e == errSessionTerminated {
		status = http.StatusBadRequest
	}
	w.WriteHeader(status)
	fmt.Fprintf(w, `<%s xmlns=""><message>%s</message></%s>`, e.code, msg.String(), e.code)
}

// verifySignature checks r's SigV4 signature (header or presigned query)
// over body.
func (s *Server) verifySignature(r *http.Request, body []byte) *gatewayError {
	if auth := r.Header.Get("Authorization"); auth != "" {
		return s.verifyHeader(r, auth, body)
	}
	if q := r.URL.Query(); q.Has("X-Amz-Signature") || q.Has("X-Amz-Credential") {
		return s.verifyPresigned(r, q)
	}
	return errNotAuthenticated
}

// sigParams are the parts of a signature, from the Authorization header
// or the presigned query.
type sigParams struct {
	credential    string // AKID/date/region/service/aws4_request
	signedHeaders []string
	signature     string
	date          string // X-Amz-Date
	token         string // X-Amz-Security-Token
}

func parseAuthorization(auth string) (sigParams, *gatewayError) {
	var p sigParams
	alg, rest, _ := strings.Cut(auth, " ")
	if alg != "AWS4-HMAC-SHA256" {
		return p, incompleteSignature("Unsupported Authorization Type")
	}
	var missing []string
	fields := map[string]string{}
	for _, f := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		fields[k] = v
	}
	for _, k := range []string{"Credential", "Signature", "SignedHeaders"} {
		if fields[k] == "" {
			missing = append(missing, fmt.Sprintf("Authorization header requires '%s' parameter.", k))
		}
	}
	if len(missing) > 0 {
		return p, incompleteSignature(strings.Join(missing, " "))
	}
	p.credential, p.signature = fields["Credential"], fields["Signature"]
	p.signedHeaders = strings.Split(fields["SignedHeaders"], ";")
	return p, nil
}

func (s *Server) verifyHeader(r *http.Request, auth string, body []byte) *gatewayError {
	p, e := parseAuthorization(auth)
	if e != nil {
		return e
	}
	p.date, p.token = r.Header.Get("X-Amz-Date"), r.Header.Get("X-Amz-Security-Token")
	creds, signingTime, e := s.checkScope(p)
	if e != nil {
		return e
	}
	req, e := unsignedCopy(r, p.signedHeaders, r.URL.RawQuery, body)
	if e != nil {
		return e
	}
	hash := r.Header.Get("X-Amz-Content-Sha256")
	if hash == "" {
		sum := sha256.Sum256(body)
		hash = hex.EncodeToString(sum[:])
	}
	err := v4.NewSigner().SignHTTP(r.Context(), creds, req, hash, protocol.SigningName, s.region, signingTime)
	if err != nil {
		return invalidSignature(signatureMismatch)
	}
	want, _ := parseAuthorization(req.Header.Get("Authorization"))
	if !hmac.Equal([]byte(want.signature), []byte(p.signature)) || !slices.Equal(want.signedHeaders, p.signedHeaders) {
		return invalidSignature(signatureMismatch)
	}
	return nil
}

func (s *Server) verifyPresigned(r *http.Request, q url.Values) *gatewayError {
	p := sigParams{
		credential: q.Get("X-Amz-Credential"), signature: q.Get("X-Amz-Signature"),
		signedHeaders: strings.Split(q.Get("X-Amz-SignedHeaders"), ";"),
		date:          q.Get("X-Amz-Date"), token: q.Get("X-Amz-Security-Token"),
	}
	var missing []string
	for _, k := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date"} {
		if q.Get(k) == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return incompleteSignature("Query-string authentication requires the " + strings.Join(missing, ", ") + " parameters.")
	}
	if q.Get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" {
		return incompleteSignature("Unsupported query-string authentication algorithm")
	}
	creds, signingTime, e := s.checkScope(p)
	if e != nil {
		return e
	}
	if exp := q.Get("X-Amz-Expires"); exp != "" {
		secs, err := strconv.Atoi(exp)
		if err != nil || secs < 0 {
			return incompleteSignature("X-Amz-Expires must be a non-negative integer")
		}
		if s.clock().After(signingTime.Add(time.Duration(secs) * time.Second)) {
			return &gatewayError{"AccessDeniedException", "Request has expired"}
		}
	}
	q = maps.Clone(q)
	q.Del("X-Amz-Signature")
	req, e := unsignedCopy(r, p.signedHeaders, q.Encode(), nil)
	if e != nil {
		return e
	}
	// A presigned GET's payload is signed as empty, or as unsigned (as
	// S3 does); either passes.
	for _, hash := range []string{emptyPayload, "UNSIGNED-PAYLOAD"} {
		signedURL, _, err := v4.NewSigner().PresignHTTP(r.Context(), creds, req, hash, protocol.SigningName, s.region, signingTime)
		if err != nil {
			break
		}
		if u, err := url.Parse(signedURL); err == nil && hmac.Equal([]byte(u.Query().Get("X-Amz-Signature")), []byte(p.signature)) {
			return nil
		}
	}
	return invalidSignature(signatureMismatch)
}

// presignTTL is how long a presigned StreamUrl stays valid.
const presignTTL = time.Minute

// presign returns streamURL presigned for the gateway with the user's
// credentials (Options.PresignStreamURLs).
func (s *Server) presign(streamURL string) string {
	req, err := http.NewRequest(http.MethodGet, streamURL, nil)
	if err != nil {
		return streamURL
	}
	q := req.URL.Query()
	q.Set("X-Amz-Expires", strconv.Itoa(int(presignTTL/time.Second)))
	req.URL.RawQuery = q.Encode()
	creds := aws.Credentials{AccessKeyID: FakeAccessKeyID, SecretAccessKey: FakeSecretAccessKey}
	signed, _, err := v4.NewSigner().PresignHTTP(req.Context(), creds, req, emptyPayload, protocol.SigningName, s.region, s.clock())
	if err != nil {
		return streamURL
	}
	return signed
}

// emptyPayload is the SHA-256 of an empty body.
const emptyPayload = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// checkScope checks the credential scope and date of a signature against
// the server and returns the credentials that must have made it.
func (s *Server) checkScope(p sigParams) (aws.Credentials, time.Time, *gatewayError) {
	parts := strings.Split(p.credential, "/")
	if len(parts) != 5 || parts[4] != "aws4_request" {
		return aws.Credentials{}, time.Time{}, incompleteSignature(
			"Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '" + scopeOnly(parts) + "'")
	}
	akid, day, region, service := parts[0], parts[1], parts[2], parts[3]
	signingTime, err := time.Parse(amzDateFormat, p.date)
	if err != nil {
		return aws.Credentials{}, time.Time{}, incompleteSignature("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	switch {
	case service != protocol.SigningName:
		return aws.Credentials{}, time.Time{}, invalidSignature("Credential should be scoped to correct service: '" + protocol.SigningName + "'. ")
	case region != s.region:
		return aws.Credentials{}, time.Time{}, invalidSignature("Credential should be scoped to a valid region. ")
	case day != p.date[:8]:
		return aws.Credentials{}, time.Time{}, invalidSignature(fmt.Sprintf(
			"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from 'x-amz-date'.", day, p.date[:8]))
	}
	now := s.clock().UTC()
	switch {
	case signingTime.Before(now.Add(-maxSkew)):
		return aws.Credentials{}, time.Time{}, invalidSignature(fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - 5 min.)",
			p.date, now.Add(-maxSkew).Format(amzDateFormat), now.Format(amzDateFormat)))
	case signingTime.After(now.Add(maxSkew)):
		return aws.Credentials{}, time.Time{}, invalidSignature(fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + 5 min.)",
			p.date, now.Add(maxSkew).Format(amzDateFormat), now.Format(amzDateFormat)))
	}
	secret, apiErr := s.secretFor(akid, p.token, now)
	if apiErr != nil {
		return aws.Credentials{}, time.Time{}, &gatewayError{apiErr.Code, apiErr.Message}
	}
	return aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret, SessionToken: p.token}, signingTime, nil
}

// scopeOnly is a malformed credential without its access key id.
func scopeOnly(parts []string) string {
	if len(parts) > 1 {
		return strings.Join(parts[1:], "/")
	}
	return ""
}

// unsignedCopy is r as its signer saw it: method, host, path and query,
// the headers it signed, and body.
func unsignedCopy(r *http.Request, signedHeaders []string, rawQuery string, body []byte) (*http.Request, *gatewayError) {
	u := url.URL{Scheme: "wss", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: rawQuery}
	if r.Method != http.MethodGet {
		u.Scheme = "https"
	}
	req, err := http.NewRequest(r.Method, u.String(), nil)
	if err != nil {
		return nil, invalidSignature(signatureMismatch)
	}
	req.Host = r.Host
	for _, h := range signedHeaders {
		switch h {
		case "host", "":
		case "content-length":
			req.ContentLength = int64(len(body))
		default:
			req.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	return req, nil
}
