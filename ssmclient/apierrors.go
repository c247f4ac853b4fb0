package ssmclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials/ssocreds"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/ssmssh/ssmssh/protocol"
)

// Codes of [Error], normalised across services: callers branch on these,
// not on the AWS error code, which stays reachable with errors.As and
// smithy.APIError.
const (
	CodeTargetNotConnected = "TargetNotConnected"  // the SSM agent of the target is not connected
	CodeAccessDenied       = "AccessDenied"        // IAM denied the call
	CodeInvalidDocument    = "InvalidDocument"     // the session document is missing or unusable
	CodeExpiredToken       = "ExpiredToken"        // temporary credentials have expired
	CodeBadCredentials     = "BadCredentials"      // AWS does not recognise the access key or signature
	CodeSignatureRefused   = "SignatureRefused"    // the message gateway refused the data channel's signature
	CodeNoCredentials      = "NoCredentials"       // no credentials were found anywhere
	CodeSSOLogin           = "SSOLoginRequired"    // the SSO session is missing or expired
	CodeKMSKeyNotFound     = "KMSKeyNotFound"      // the Session Manager KMS key does not exist
	CodeInstanceNotFound   = "InstanceNotFound"    // EC2 does not know the instance id
	CodeInstanceNotRunning = "InstanceNotRunning"  // the instance exists but is not running
	CodeThrottled          = "Throttled"           // AWS throttled the call
	CodeTLS                = "TLSUntrusted"        // the endpoint's certificate is not trusted
	CodeNetwork            = "EndpointUnreachable" // the endpoint could not be reached
	CodeNoTerminal         = "NoTerminal"          // a prompt was needed but there is no terminal
)

// Error is an AWS failure explained for the user. Hint is one line saying
// what went wrong and what to do about it; Err is the original error, so
// errors.Is and errors.As see through an Error to the SDK's errors.
type Error struct {
	Op   string // the AWS operation, "SSM StartSession"; empty when none was involved
	Code string // one of the Code constants
	Hint string // what went wrong and what to do, one line
	Err  error  // the original error
}

func (e *Error) Error() string {
	if e.Op == "" {
		return "ssmclient: " + e.Hint
	}
	return "ssmclient: " + e.Op + ": " + e.Hint
}

func (e *Error) Unwrap() error { return e.Err }

// Explain returns err wrapped in an [*Error] when it is an AWS failure a
// user commonly meets (see the Code constants), and err unchanged
// otherwise: nil, context cancellation, errors already explained, and
// anything it does not recognise.
func Explain(err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	if _, ok := err.(*Error); ok {
		return err
	}
	op := innermostOp(err)

	// An explanation made deeper down, such as the MFA prompt's, inside
	// the SDK's wrapping: lift it to the top, keeping the whole chain.
	var inner *Error
	if errors.As(err, &inner) {
		if inner.Op != "" {
			op = inner.Op
		}
		return &Error{Op: op, Code: inner.Code, Hint: inner.Hint, Err: err}
	}
	if e := explainDial(err); e != nil {
		return e
	}
	// Credentials are missing for the call the user made, not for the
	// instance-metadata or SSO calls the SDK made while looking for them.
	if e := explainCredentials(err, outermostOp(err), op); e != nil {
		return e
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		if e := explainAPI(err, apiErr, op); e != nil {
			return e
		}
		return err
	}
	if e := explainNetwork(err, op); e != nil {
		return e
	}
	return err
}

// explainCredentials recognises failures to obtain credentials, which the
// SDK reports while signing a request: op is the call that needed them,
// innerOp the deepest call in the chain (an SSO call, say).
func explainCredentials(err error, op, innerOp string) *Error {
	var ssoErr *ssocreds.InvalidTokenError
	msg := err.Error()
	ssoExpired := errors.As(err, &ssoErr) ||
		strings.Contains(msg, "cached SSO token") ||
		strings.Contains(msg, "refresh cached SSO token failed")
	if !ssoExpired {
		var apiErr smithy.APIError
		if errors.As(err, &apiErr) && strings.HasPrefix(innerOp, "SSO") {
			switch apiErr.ErrorCode() {
			case "UnauthorizedException", "InvalidGrantException", "ExpiredTokenException":
				ssoExpired = true
			}
		}
	}
	if ssoExpired {
		return &Error{Op: op, Code: CodeSSOLogin, Err: err,
			Hint: "the AWS SSO session has expired or was never started: run `aws sso login` with the same profile, then retry"}
	}
	if strings.Contains(msg, "no EC2 IMDS role found") ||
		strings.Contains(msg, "AWS_EC2_METADATA_DISABLED") {
		return &Error{Op: op, Code: CodeNoCredentials, Err: err,
			Hint: "no AWS credentials found: pass --profile or set AWS_PROFILE to a configured profile (aws configure, aws configure sso), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"}
	}
	return nil
}

var targetIDRe = regexp.MustCompile(`\b(?:m?i-[0-9a-f]{8,17}|ecs:[A-Za-z0-9_-]+)`)

// explainAPI maps an error response from an AWS API.
func explainAPI(err error, apiErr smithy.APIError, op string) *Error {
	code, msg := apiErr.ErrorCode(), apiErr.ErrorMessage()
	service, _, _ := strings.Cut(op, " ")
	if strings.HasPrefix(op, "EC2 Instance Connect") {
		service = "EC2 Instance Connect"
	}
	says := ""
	if msg != "" {
		says = " (AWS says: " + oneLine(msg) + ")"
	}
	e := &Error{Op: op, Err: err}
	switch code {
	case "TargetNotConnected":
		target := targetIDRe.FindString(msg)
		if target == "" {
			target = "the target"
		}
		e.Code = CodeTargetNotConnected
		e.Hint = target + " is not connected to Session Manager: the instance is stopped, its SSM agent is offline, or the id is wrong (check `aws ssm describe-instance-information`)"
	case "AccessDeniedException", "AccessDenied", "UnauthorizedOperation", "UnauthorizedException":
		e.Code = CodeAccessDenied
		switch {
		case op == "SSM StartSession":
			e.Hint = "not allowed to start a session: the IAM policy must allow ssm:StartSession on the instance and on the session document" + says
		case service == "EC2 Instance Connect":
			e.Hint = "not allowed to send an SSH public key: the IAM policy must allow ec2-instance-connect:SendSSHPublicKey on the instance" + says
		case service == "KMS":
			e.Hint = "not allowed to use the KMS key of the Session Manager preferences: you need kms:GenerateDataKey on it (and the instance profile kms:Decrypt)" + says
		case service == "STS":
			e.Hint = "not allowed to assume the profile's role: check role_arn and the role's trust policy" + says
		default:
			e.Hint = "not authorized to call " + opName(op) + says
		}
	case "InvalidDocument":
		e.Code = CodeInvalidDocument
		e.Hint = "the session document does not exist in this region or cannot be used: check the document name and --region" + says
	case "ExpiredToken", "ExpiredTokenException", "RequestExpired":
		e.Code = CodeExpiredToken
		e.Hint = "the AWS session credentials have expired: get fresh ones (aws sso login, or renew the temporary credentials in your environment or profile)"
	case "UnrecognizedClientException", "InvalidClientTokenId", "AuthFailure":
		e.Code = CodeBadCredentials
		e.Hint = "AWS does not recognise the access key: the credentials of the profile or environment are wrong or deleted (check `aws sts get-caller-identity`)"
	case "InvalidSignatureException", "SignatureDoesNotMatch":
		e.Code = CodeBadCredentials
		e.Hint = "AWS rejected the request signature: the secret access key is wrong or the system clock is off"
	case "NotFoundException":
		if service != "KMS" {
			return nil
		}
		e.Code = CodeKMSKeyNotFound
		e.Hint = oneLine(msg) + ": the KMS key in the Session Manager preferences does not exist (fix it in the Session Manager preferences, or use a key in this account and region)"
	case "InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed", "EC2InstanceNotFoundException":
		e.Code = CodeInstanceNotFound
		e.Hint = "EC2 has no such instance in this region: check the instance id and --region" + says
	case "EC2InstanceStateInvalidException":
		e.Code = CodeInstanceNotRunning
		e.Hint = "the instance is not running: start it, then retry" + says
	case "ThrottlingException", "Throttling", "RequestLimitExceeded":
		e.Code = CodeThrottled
		e.Hint = "AWS is throttling " + opName(op) + ": wait a moment and retry"
	default:
		return nil
	}
	return e
}

// opOpenDataChannel names the websocket upgrade in errors.
const opOpenDataChannel = "ssmmessages OpenDataChannel"

// explainDial explains a data-channel websocket that Session Manager's
// message gateway refused (401 or 403), or returns nil.
func explainDial(err error) *Error {
	var de *protocol.DialError
	if !errors.As(err, &de) || !de.Refused() {
		return nil
	}
	says := fmt.Sprintf(" (%d", de.StatusCode)
	if de.Code != "" {
		says += " " + de.Code
	}
	if de.Message != "" {
		says += ": " + de.Message
	}
	says += ")"
	e := &Error{Op: opOpenDataChannel, Err: err}
	switch de.Code {
	case "ExpiredToken", "ExpiredTokenException":
		e.Code = CodeExpiredToken
		e.Hint = "the AWS session credentials have expired: get fresh ones (aws sso login, or renew the temporary credentials in your environment or profile)"
	case "UnrecognizedClientException", "InvalidClientTokenId":
		e.Code = CodeBadCredentials
		e.Hint = "AWS does not recognise the access key the websocket was signed with: the credentials of the profile or environment are wrong or deleted (check `aws sts get-caller-identity`)"
	case "AccessDeniedException", "AccessDenied":
		e.Code = CodeAccessDenied
		e.Hint = "not allowed to open the session's data channel: the IAM policy must allow ssmmessages:OpenDataChannel" + says
	default:
		e.Code = CodeSignatureRefused
		e.Hint = "Session Manager's message gateway refused the signature of the data-channel websocket" + says +
			": the secret access key is wrong, the system clock is off, or a proxy rewrote the request"
	}
	return e
}

// explainNetwork recognises failures to reach an endpoint: DNS, TCP and
// TLS trust.
func explainNetwork(err error, op string) *Error {
	endpoint := endpointOf(err)
	var sendErr *smithyhttp.RequestSendError
	if endpoint == "" && !errors.As(err, &sendErr) {
		return nil
	}
	if endpoint == "" {
		endpoint = "the AWS endpoint"
	}
	var (
		unknownCA   x509.UnknownAuthorityError
		hostnameErr x509.HostnameError
		invalidCert x509.CertificateInvalidError
		verifyErr   *tls.CertificateVerificationError
		dnsErr      *net.DNSError
		netErr      net.Error
	)
	e := &Error{Op: op, Err: err}
	switch {
	case errors.As(err, &hostnameErr):
		e.Code = CodeTLS
		e.Hint = fmt.Sprintf("the TLS certificate of %s is for another name (%v): check AWS_ENDPOINT_URL and the region", endpoint, hostnameErr)
	case errors.As(err, &unknownCA), errors.As(err, &invalidCert), errors.As(err, &verifyErr):
		e.Code = CodeTLS
		e.Hint = fmt.Sprintf("the TLS certificate of %s is not trusted: if a proxy or private endpoint uses its own certificate authority, set AWS_CA_BUNDLE (or ca_bundle in the profile) to its PEM file", endpoint)
	case errors.As(err, &dnsErr):
		e.Code = CodeNetwork
		e.Hint = fmt.Sprintf("cannot resolve %s (%v): check --region, AWS_ENDPOINT_URL and your DNS or VPN", endpoint, dnsErr)
	case errors.As(err, &netErr):
		e.Code = CodeNetwork
		e.Hint = fmt.Sprintf("cannot reach %s (%v): check your network, HTTPS_PROXY and AWS_ENDPOINT_URL", endpoint, innermost(err))
	default:
		return nil
	}
	return e
}

// endpointOf returns scheme://host of the request that failed, if the
// error carries it.
func endpointOf(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil && u.Host != "" {
			return u.Scheme + "://" + u.Host
		}
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.Response != nil && re.Response.Request != nil && re.Response.Request.URL != nil {
		u := re.Response.Request.URL
		return u.Scheme + "://" + u.Host
	}
	return ""
}

// innermostOp names the deepest AWS operation in err's chain ("STS
// AssumeRole" inside "SSM StartSession" when credentials failed), or "".
func innermostOp(err error) string {
	op := ""
	for e := err; e != nil; e = errors.Unwrap(e) {
		if oe, ok := e.(*smithy.OperationError); ok {
			op = oe.ServiceID + " " + oe.OperationName
		}
	}
	return op
}

// outermostOp names the first AWS operation in err's chain, or "".
func outermostOp(err error) string {
	var oe *smithy.OperationError
	if errors.As(err, &oe) {
		return oe.ServiceID + " " + oe.OperationName
	}
	return ""
}

// innermost returns the last error of err's Unwrap chain.
func innermost(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

func opName(op string) string {
	if op == "" {
		return "AWS"
	}
	return op
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
