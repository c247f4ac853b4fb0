package ssmtest

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
)

// The AWS wire formats the emulator speaks.
//
// JSON 1.1 (SSM, KMS, EC2 Instance Connect): POST / with
// Content-Type application/x-amz-json-1.1 and X-Amz-Target
// "<TargetPrefix>.<Operation>"; the body is the input as JSON. Success is 200
// with the output as JSON; failure is a 4xx/5xx with
// {"__type":"<Code>","message":"<text>"}, which the SDK turns into the
// modelled error type named by __type (or a smithy.GenericAPIError).
// Timestamps are epoch seconds, blobs base64.
//
// Query (EC2, STS and IAM): POST / with a form body Action=…&Version=…; the
// service is told apart by the SigV4 credential scope
// (…/<region>/<service>/aws4_request) of the Authorization header. EC2
// answers XML in the 2016-11-15 namespace and fails with
// <Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>;
// STS and IAM answer XML and fail with
// <ErrorResponse><Error><Type>Sender</Type><Code/><Message/></Error><RequestId/></ErrorResponse>.
//
// Signatures are not checked, but a request without an Authorization
// header (or presigned X-Amz-Credential) is refused as AWS refuses it, and
// one signed with expired credentials gets the service's expired-token
// error (credentials.go). The gateway does check signatures (sigv4.go).

// APIError is an error answered to an API caller in the service's shape.
// Hooks (Hooks.OnStart) return one to choose the error StartSession gives.
type APIError struct {
	// Code is the error code, e.g. "TargetNotConnected"; the SDK maps it
	// onto its typed errors.
	Code string
	// Message is the text the caller sees.
	Message string
	// StatusCode is the HTTP status; 0 means 400.
	StatusCode int
}

func (e *APIError) Error() string {
	return fmt.Sprintf("ssmtest: %s: %s", e.Code, e.Message)
}

func (e *APIError) status() int {
	if e.StatusCode == 0 {
		return http.StatusBadRequest
	}
	return e.StatusCode
}

// fault is "Sender" for client errors and "Receiver" for server errors.
func (e *APIError) fault() string {
	if e.status() >= 500 {
		return "Receiver"
	}
	return "Sender"
}

func apiErr(code, format string, args ...any) *APIError {
	return &APIError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// validationErr is the message AWS's front door gives for a member that
// breaks the model's constraints.
func validationErr(value, member, constraint string) *APIError {
	return apiErr("ValidationException",
		"1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: %s", value, member, constraint)
}

func errTargetNotConnected(target string) error {
	return apiErr("TargetNotConnected", "%s is not connected.", target)
}

// maxRequestBody bounds API request bodies.
const maxRequestBody = 1 << 20

// call is one API request being answered.
type call struct {
	s         *Server
	caller    string // the caller's ARN: the user's, or an instance's role
	requestID string
	service   string // signing name: ssm, kms, ec2, sts, ec2-instance-connect
	action    string // operation name
	faults    FaultSet
	now       time.Time
}

// iamAction is the action's IAM name, e.g. "ssm:StartSession".
func (c *call) iamAction() string { return c.service + ":" + c.action }

// accessDenied is the error IAM gives when the caller lacks c's action.
func (c *call) accessDenied(resource string) *APIError {
	return apiErr("AccessDeniedException",
		"User: %s is not authorized to perform: %s on resource: %s because no identity-based policy allows the %s action",
		c.caller, c.iamAction(), resource, c.iamAction())
}

// checkDenied fails when a fault denies the action.
func (c *call) checkDenied(resource string) error {
	if c.denied(c.iamAction()) {
		return c.accessDenied(resource)
	}
	return nil
}

type jsonOp func(c *call, body []byte) (any, error)

// op adapts a typed handler to a jsonOp that decodes its input.
func op[In any](f func(c *call, in *In) (any, error)) jsonOp {
	return func(c *call, body []byte) (any, error) {
		in := new(In)
		if len(bytes.TrimSpace(body)) > 0 {
			if err := json.Unmarshal(body, in); err != nil {
				return nil, apiErr("SerializationException", "Start of structure or map found where not expected.")
			}
		}
		return f(c, in)
	}
}

type queryOp func(c *call, form queryForm) (any, error)

// serveAPI is the dispatcher behind "/": JSON 1.1 by X-Amz-Target, query by
// Action and credential scope.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	if target == "" && r.Method == http.MethodPost &&
		strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		r.Body = http.MaxBytesReader(w, r.Body, maxRequestBody)
		_ = r.ParseForm()
	} else if target == "" {
		_ = r.ParseForm() // query string only
	}
	if target == "" && r.Form.Get("Action") == "" {
		http.NotFound(w, r)
		return
	}
	c := &call{s: s, caller: s.callerOf(r), requestID: uuid.NewString(), faults: s.faults(), now: s.clock()}
	w.Header().Set("X-Amzn-RequestId", c.requestID)
	scope := credentialService(r)
	if target != "" {
		s.serveJSON(w, r, c, target, scope)
		return
	}
	s.serveQuery(w, r, c, scope)
}

// jsonServices maps X-Amz-Target prefixes to signing names.
var jsonServices = map[string]string{
	"AmazonSSM":                          "ssm",
	"TrentService":                       "kms",
	"AWSEC2InstanceConnectService":       "ec2-instance-connect",
	"AmazonEC2ContainerServiceV20141113": "ecs",
}

func (s *Server) serveJSON(w http.ResponseWriter, r *http.Request, c *call, target, scope string) {
	prefix, action, _ := strings.Cut(target, ".")
	c.service, c.action = jsonServices[prefix], action
	s.calls.add(c.service, c.action)
	if scope == "" {
		writeJSONError(w, &APIError{Code: "MissingAuthenticationTokenException", Message: "Missing Authentication Token"})
		return
	}
	if e := s.expiredCaller(r, c.service, c.now); e != nil {
		s.logf("ssmtest: %s %s: refused: %s", c.service, action, e.Code)
		writeJSONError(w, e)
		return
	}
	h := s.jsonOps[target]
	if h == nil {
		writeJSONError(w, apiErr("UnknownOperationException", ""))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if err != nil {
		writeJSONError(w, &APIError{Code: "RequestEntityTooLargeException", Message: "Request body too large", StatusCode: http.StatusRequestEntityTooLarge})
		return
	}
	out, err := h(c, body)
	if err != nil {
		s.logf("ssmtest: %s %s: %v", c.service, action, err)
		writeJSONError(w, asAPIError(err))
		return
	}
	data, err := json.Marshal(out)
	if err != nil {
		writeJSONError(w, asAPIError(fmt.Errorf("ssmtest: encode %s output: %w", action, err)))
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_, _ = w.Write(data)
}

// asAPIError turns an internal error into InternalServerError (status
// 500, which SDKs retry).
func asAPIError(err error) *APIError {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae
	}
	return &APIError{Code: "InternalServerError", Message: err.Error(), StatusCode: http.StatusInternalServerError}
}

func writeJSONError(w http.ResponseWriter, e *APIError) {
	body, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message,omitempty"`
	}{e.Code, e.Message})
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", e.Code)
	w.WriteHeader(e.status())
	_, _ = w.Write(body)
}

// queryVersions tells query services apart when a request carries no
// credential scope (only to shape the authentication error).
var queryVersions = map[string]string{
	"2016-11-15": "ec2",
	"2011-06-15": "sts",
	"2010-05-08": "iam",
}

func (s *Server) serveQuery(w http.ResponseWriter, r *http.Request, c *call, scope string) {
	form := queryForm(r.Form)
	c.action = form.Get("Action")
	c.service = scope
	if c.service == "" {
		c.service = queryVersions[form.Get("Version")]
	}
	s.calls.add(c.service, c.action)
	var ops map[string]queryOp
	switch c.service {
	case "ec2":
		ops = s.ec2Ops
	case "sts":
		ops = s.stsOps
	case "iam":
		ops = s.iamOps
	default:
		writeXMLError(w, "ec2", c.requestID, apiErr("InvalidAction", "The action %s is not valid for this web service.", c.action))
		return
	}
	if scope == "" {
		writeXMLError(w, c.service, c.requestID, &APIError{
			Code: "MissingAuthenticationToken", Message: "Request is missing Authentication Token", StatusCode: http.StatusForbidden,
		})
		return
	}
	if e := s.expiredCaller(r, c.service, c.now); e != nil {
		s.logf("ssmtest: %s %s: refused: %s", c.service, c.action, e.Code)
		writeXMLError(w, c.service, c.requestID, e)
		return
	}
	h := ops[c.action]
	if h == nil {
		writeXMLError(w, c.service, c.requestID, apiErr("InvalidAction", "The action %s is not valid for this web service.", c.action))
		return
	}
	out, err := h(c, form)
	if err != nil {
		s.logf("ssmtest: %s %s: %v", c.service, c.action, err)
		writeXMLError(w, c.service, c.requestID, asAPIError(err))
		return
	}
	data, err := xml.Marshal(out)
	if err != nil {
		writeXMLError(w, c.service, c.requestID, asAPIError(fmt.Errorf("ssmtest: encode %s output: %w", c.action, err)))
		return
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	_, _ = io.WriteString(w, xml.Header)
	_, _ = w.Write(data)
}

type ec2ErrorResponse struct {
	XMLName xml.Name `xml:"Response"`
	Errors  []struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Errors>Error"`
	RequestID string `xml:"RequestID"`
}

type stsErrorResponse struct {
	XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ ErrorResponse"`
	Error   struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}

// iamErrorResponse is STS's error shape in IAM's namespace.
type iamErrorResponse struct {
	XMLName xml.Name `xml:"https://iam.amazonaws.com/doc/2010-05-08/ ErrorResponse"`
	Error   struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}

func writeXMLError(w http.ResponseWriter, service, requestID string, e *APIError) {
	var v any
	if service == "iam" {
		var r iamErrorResponse
		r.Error.Type, r.Error.Code, r.Error.Message = e.fault(), e.Code, e.Message
		r.RequestID = requestID
		v = r
	} else if service == "sts" {
		var r stsErrorResponse
		r.Error.Type, r.Error.Code, r.Error.Message = e.fault(), e.Code, e.Message
		r.RequestID = requestID
		v = r
	} else {
		r := ec2ErrorResponse{RequestID: requestID}
		r.Errors = append(r.Errors, struct {
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		}{e.Code, e.Message})
		v = r
	}
	body, _ := xml.Marshal(v)
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(e.status())
	_, _ = io.WriteString(w, xml.Header)
	_, _ = w.Write(body)
}

// credentialService returns the service of a request's SigV4 credential
// scope (Authorization header or presigned query), or "" when the request
// is unsigned. The signature itself is never checked, and never logged.
func credentialService(r *http.Request) string {
	cred := credentialScope(r)
	switch cred {
	case "", "unknown":
		return cred
	}
	// AKID/date/region/service/aws4_request
	parts := strings.Split(strings.TrimSpace(cred), "/")
	if len(parts) < 5 {
		return "unknown"
	}
	return parts[len(parts)-2]
}

// InstanceRoleName is the role of the built-in agents' instance profile,
// as access-denied messages name it.
const InstanceRoleName = "SSMInstanceRole"

// instanceKeyPrefix starts the access key id of a built-in agent's
// instance-profile credentials; the instance id follows.
const instanceKeyPrefix = "SSMTESTINSTANCE"

// callerOf is the ARN of the identity that signed r: the emulated user,
// or, for a built-in agent's instance-profile credentials, the instance
// role's session (arn:aws:sts::ACCOUNT:assumed-role/ROLE/INSTANCE-ID), as
// IAM names them in access-denied messages.
func (s *Server) callerOf(r *http.Request) string {
	akid, _, _ := strings.Cut(strings.TrimSpace(credentialScope(r)), "/")
	if id, ok := strings.CutPrefix(akid, instanceKeyPrefix); ok && id != "" {
		return fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", s.account, InstanceRoleName, id)
	}
	return s.callerARN
}

// credentialScope is the Credential of r's SigV4 signature
// (AKID/date/region/service/aws4_request), "" when unsigned and
// "unknown" when the Authorization header has none.
func credentialScope(r *http.Request) string {
	cred := ""
	if auth := r.Header.Get("Authorization"); auth != "" {
		_, rest, ok := strings.Cut(auth, "Credential=")
		if !ok {
			return "unknown"
		}
		cred, _, _ = strings.Cut(rest, ",")
	} else if q := r.URL.Query().Get("X-Amz-Credential"); q != "" {
		cred = q
	} else {
		return ""
	}
	return cred
}

// queryForm is a query-protocol request's parameters.
type queryForm map[string][]string

// Get returns the first value of key.
func (f queryForm) Get(key string) string {
	if v := f[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// list returns the values of a flattened list: prefix.1, prefix.2, …
func (f queryForm) list(prefix string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := f[fmt.Sprintf("%s.%d", prefix, i)]
		if !ok || len(v) == 0 {
			return out
		}
		out = append(out, v[0])
	}
}

// queryFilter is an EC2 Filter.N with its Name and Value.M.
type queryFilter struct {
	Name   string
	Values []string
}

func (f queryForm) filters() []queryFilter {
	var out []queryFilter
	for i := 1; ; i++ {
		p := fmt.Sprintf("Filter.%d", i)
		name := f.Get(p + ".Name")
		if name == "" {
			return out
		}
		out = append(out, queryFilter{Name: name, Values: f.list(p + ".Value")})
	}
}

// epochTime is a JSON 1.1 timestamp: seconds since the epoch.
type epochTime time.Time

func (t epochTime) MarshalJSON() ([]byte, error) {
	tt := time.Time(t)
	return []byte(fmt.Sprintf("%.3f", float64(tt.UnixMilli())/1000)), nil
}

func epoch(t time.Time) *epochTime {
	if t.IsZero() {
		return nil
	}
	e := epochTime(t)
	return &e
}

// iso8601 formats an XML timestamp as AWS does.
func iso8601(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}
