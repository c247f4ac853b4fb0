package plugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/ssmssh/ssmssh/ssmclient"
)

// The command line the AWS CLI (v1 and v2) and the tools built like it
// give session-manager-plugin, as their start-session and execute-command
// customizations and the plugin's own argument handling have it:
//
//	session-manager-plugin                              → "installed successfully"
//	session-manager-plugin --version                    → the version
//	session-manager-plugin RESPONSE REGION OPERATION [PROFILE [REQUEST [ENDPOINT]]]
//
// RESPONSE is the StartSession response as JSON (SessionId, StreamUrl,
// TokenValue; the AWS CLI adds ResponseMetadata), or ECS ExecuteCommand's
// "session" member, whose keys are lower camel case (sessionId, streamUrl,
// tokenValue). Plugin releases from 1.2.536.0 also take, in its place, the
// name of an environment variable starting with
// AWS_SSM_START_SESSION_RESPONSE that holds the JSON, so that the token is
// not on the command line; the variable is cleared once read. OPERATION
// is always "StartSession". PROFILE is the AWS CLI's profile, or "" when
// none was chosen (the legacy form with only three arguments comes from
// AWS CLIs too old to pass one). REQUEST is the StartSession request as
// JSON ({"Target":…,"DocumentName":…,"Parameters":{"name":["v"]}}; for
// execute-command only {"Target":"ecs:<cluster>_<task>_<runtime-id>"}),
// ENDPOINT the URL the AWS CLI called: the SSM endpoint for
// start-session, but the ECS endpoint for execute-command. Arguments
// after ENDPOINT are ignored, as the plugin ignores them.

// Operation is the only operation the AWS CLI asks of the plugin.
const Operation = "StartSession"

// ResponseEnvPrefix starts the name of the environment variable that may
// carry the response instead of argv.
const ResponseEnvPrefix = "AWS_SSM_START_SESSION_RESPONSE"

// Mode is what a command line asks for.
type Mode int

// The modes.
const (
	ModeInstalled Mode = iota + 1 // no arguments: say the plugin is installed
	ModeVersion                   // --version
	ModeSession                   // run a session
)

// Args is a parsed command line.
type Args struct {
	Mode Mode
	// Response is the started session's data-channel address.
	Response ssmclient.SessionResponse
	// ECS reports that Response came in ECS ExecuteCommand's shape (lower
	// camel case keys): Endpoint is then the ECS endpoint.
	ECS bool
	// ResponseEnv names the environment variable the response was read
	// from ("" when it was in argv).
	ResponseEnv string
	Region      string
	// Profile is the AWS CLI's profile ("" for the default chain).
	Profile string
	// Request is the StartSession request (zero in the legacy form).
	Request Request
	// Endpoint is the URL the AWS CLI called ("" when not given).
	Endpoint string
}

// Request is the part of the StartSession request the plugin uses.
type Request struct {
	Target       string              `json:"Target"`
	DocumentName string              `json:"DocumentName,omitempty"`
	Parameters   map[string][]string `json:"Parameters,omitempty"`
	Reason       string              `json:"Reason,omitempty"`
}

// UsageError is a command line the plugin cannot run. Its text never
// contains the token.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return "plugin: " + e.Msg }

// maxJSON bounds the JSON arguments (a response is well under 4 KiB).
const maxJSON = 1 << 20

// ParseArgs parses the command line args (without the program name).
// getenv reads the environment and unsetenv clears a variable (os.Getenv
// and os.Unsetenv; nil for neither).
func ParseArgs(args []string, getenv func(string) string, unsetenv func(string) error) (*Args, error) {
	switch {
	case len(args) == 0:
		return &Args{Mode: ModeInstalled}, nil
	case len(args) == 1 && (args[0] == "--version" || args[0] == "-version" || args[0] == "version"):
		return &Args{Mode: ModeVersion}, nil
	case len(args) < 3:
		return nil, &UsageError{Msg: fmt.Sprintf("unknown operation %s: the AWS CLI runs session-manager-plugin RESPONSE REGION StartSession [PROFILE [REQUEST [ENDPOINT]]]; --version prints the version", clip(args[0]))}
	}
	a := &Args{Mode: ModeSession, Region: args[1]}
	if args[2] != Operation {
		return nil, &UsageError{Msg: fmt.Sprintf("invalid operation %s: only %s is supported", clip(args[2]), Operation)}
	}
	if a.Region == "" {
		return nil, &UsageError{Msg: "empty region"}
	}
	raw := args[0]
	if strings.HasPrefix(raw, ResponseEnvPrefix) {
		a.ResponseEnv = raw
		if getenv != nil {
			raw = getenv(a.ResponseEnv)
		} else {
			raw = ""
		}
		if unsetenv != nil {
			_ = unsetenv(a.ResponseEnv)
		}
		if raw == "" {
			return nil, &UsageError{Msg: fmt.Sprintf("the environment variable %s holding the StartSession response is empty or not set", clip(a.ResponseEnv))}
		}
	}
	resp, ecs, err := parseResponse(raw)
	if err != nil {
		return nil, err
	}
	a.Response, a.ECS = resp, ecs
	if len(args) > 3 {
		a.Profile = args[3]
	}
	if len(args) > 4 {
		if a.Request, err = parseRequest(args[4]); err != nil {
			return nil, err
		}
	}
	if len(args) > 5 && args[5] != "" {
		u, err := url.Parse(args[5])
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, &UsageError{Msg: fmt.Sprintf("endpoint %s is not an http(s) URL", clip(args[5]))}
		}
		a.Endpoint = args[5]
	}
	return a, nil
}

// parseResponse decodes a StartSession response (SessionId, StreamUrl,
// TokenValue) or ECS's session member (sessionId, streamUrl, tokenValue).
// Errors name the missing member, never the token or the raw text.
func parseResponse(s string) (ssmclient.SessionResponse, bool, error) {
	if len(s) > maxJSON {
		return ssmclient.SessionResponse{}, false, &UsageError{Msg: "the StartSession response is larger than 1 MiB"}
	}
	var m map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(&m); err != nil || m == nil || dec.More() {
		return ssmclient.SessionResponse{}, false, &UsageError{Msg: "the StartSession response is not a JSON object (" + jsonProblem(err) + ")"}
	}
	field := func(upper, lower string) (string, bool, error) {
		for i, k := range []string{upper, lower} {
			v, ok := m[k]
			if !ok || bytes.Equal(v, []byte("null")) {
				continue
			}
			var str string
			if err := json.Unmarshal(v, &str); err != nil {
				return "", false, &UsageError{Msg: fmt.Sprintf("%s in the StartSession response is not a string", k)}
			}
			return str, i == 1, nil
		}
		return "", false, nil
	}
	var r ssmclient.SessionResponse
	var err error
	var lower [3]bool
	if r.SessionID, lower[0], err = field("SessionId", "sessionId"); err != nil {
		return r, false, err
	}
	if r.StreamURL, lower[1], err = field("StreamUrl", "streamUrl"); err != nil {
		return r, false, err
	}
	if r.TokenValue, lower[2], err = field("TokenValue", "tokenValue"); err != nil {
		return r, false, err
	}
	switch {
	case r.SessionID == "":
		return r, false, &UsageError{Msg: "the StartSession response has no SessionId"}
	case r.StreamURL == "":
		return r, false, &UsageError{Msg: "the StartSession response has no StreamUrl"}
	case r.TokenValue == "":
		return r, false, &UsageError{Msg: "the StartSession response has no TokenValue"}
	}
	u, uerr := url.Parse(r.StreamURL)
	if uerr != nil || (u.Scheme != "wss" && u.Scheme != "ws") || u.Host == "" {
		return r, false, &UsageError{Msg: "the StreamUrl of the StartSession response is not a wss:// URL"}
	}
	return r, lower[0] && lower[1] && lower[2], nil
}

// parseRequest decodes the StartSession request the AWS CLI passes.
// Parameter values are lists of strings; a single string is taken as a
// list of one, as the API's shorthand is.
func parseRequest(s string) (Request, error) {
	var r Request
	if strings.TrimSpace(s) == "" {
		return r, nil
	}
	if len(s) > maxJSON {
		return r, &UsageError{Msg: "the StartSession request is larger than 1 MiB"}
	}
	var raw struct {
		Target       *string                    `json:"Target"`
		DocumentName *string                    `json:"DocumentName"`
		Parameters   map[string]json.RawMessage `json:"Parameters"`
		Reason       *string                    `json:"Reason"`
	}
	dec := json.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(&raw); err != nil || dec.More() {
		return r, &UsageError{Msg: "the StartSession request is not a JSON object with string Target, DocumentName and Reason (" + jsonProblem(err) + ")"}
	}
	if raw.Target != nil {
		r.Target = *raw.Target
	}
	if raw.DocumentName != nil {
		r.DocumentName = *raw.DocumentName
	}
	if raw.Reason != nil {
		r.Reason = *raw.Reason
	}
	for k, v := range raw.Parameters {
		var list []string
		if err := json.Unmarshal(v, &list); err != nil {
			var one string
			if json.Unmarshal(v, &one) != nil {
				return Request{}, &UsageError{Msg: fmt.Sprintf("parameter %s of the StartSession request is not a list of strings", clip(k))}
			}
			list = []string{one}
		}
		if r.Parameters == nil {
			r.Parameters = map[string][]string{}
		}
		r.Parameters[k] = list
	}
	return r, nil
}

// Param returns the first value of a request parameter.
func (r Request) Param(name string) string {
	if v := r.Parameters[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func jsonProblem(err error) string {
	var se *json.SyntaxError
	switch {
	case err == nil:
		return "trailing data or null"
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "a " + te.Value + " where an object or string belongs"
	}
	return "invalid JSON"
}

// clip quotes an argument in an error. A JSON argument or a long one
// could be a response with its token, in the wrong place: it is only
// described.
func clip(s string) string {
	const n = 40
	switch t := strings.TrimSpace(s); {
	case strings.HasPrefix(t, "{") || strings.HasPrefix(t, "["):
		return fmt.Sprintf("<JSON, %d bytes>", len(s))
	case len(s) > n:
		return fmt.Sprintf("<%d bytes>", len(s))
	}
	return fmt.Sprintf("%q", s)
}
