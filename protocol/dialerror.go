package protocol

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"
)

// DialError reports a websocket upgrade the server refused, or a dial that
// failed before any answer (StatusCode 0, Err set).
type DialError struct {
	URL        string // without the query, which may name the session or carry a signature
	StatusCode int
	// Code and Message are the AWS error in the answer, when it has one
	// (see ParseServiceError): "InvalidSignatureException", "The request
	// signature we calculated does not match…".
	Code, Message string
	Body          string // the start of the answer's body, on one line
	Err           error
}

func (e *DialError) Error() string {
	if e.StatusCode == 0 {
		return fmt.Sprintf("protocol: websocket: dial %s: %v", e.URL, e.Err)
	}
	what := e.Body
	switch {
	case e.Code != "" && e.Message != "":
		what = e.Code + ": " + e.Message
	case e.Code != "":
		what = e.Code
	}
	return fmt.Sprintf("protocol: websocket: %s answered %d %s: %s", e.URL, e.StatusCode,
		http.StatusText(e.StatusCode), what)
}

func (e *DialError) Unwrap() error { return e.Err }

// Refused reports whether the server refused the caller's credentials or
// signature (401 or 403), as opposed to a missing session or a network
// failure.
func (e *DialError) Refused() bool {
	return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden
}

// maxErrorText bounds Message and Body: enough for AWS's longest first
// sentence, not so much that a body echoing a request (a canonical string
// carries X-Amz-Security-Token) reaches a log.
const maxErrorText = 300

// ParseServiceError finds the AWS error code and message in an error
// answer, in the shapes AWS services use:
//
//	X-Amzn-ErrorType: Code[:…]                    (any body)
//	{"__type":"[ns#]Code","message":"…"}          (JSON protocols; also "code", "Message")
//	<Code xmlns=""><message>…</message></Code>    (the message gateway's XML)
//	<…><Error><Code>…</Code><Message>…</Message>  (query and REST-XML protocols)
//
// The message is its first line only, cut to a few hundred bytes: AWS
// appends the canonical request to some signature errors, and that holds
// the session token. Both are "" when nothing is recognised.
func ParseServiceError(header http.Header, body []byte) (code, message string) {
	if h := header.Get("X-Amzn-ErrorType"); h != "" {
		code, _, _ = strings.Cut(h, ":")
	}
	body = bytes.TrimSpace(body)
	var c, m string
	switch {
	case len(body) > 0 && body[0] == '{':
		c, m = parseJSONError(body)
	case len(body) > 0 && body[0] == '<':
		c, m = parseXMLError(body)
	}
	if code == "" {
		code = c
	}
	if i := strings.LastIndexByte(code, '#'); i >= 0 {
		code = code[i+1:]
	}
	return clip(strings.Join(strings.Fields(code), ""), 100), firstLine(m)
}

func parseJSONError(body []byte) (code, message string) {
	var v struct {
		Type     string `json:"__type"`
		Code     string `json:"code"`
		Message1 string `json:"message"`
		Message2 string `json:"Message"`
	}
	if json.Unmarshal(body, &v) != nil {
		return "", ""
	}
	code, message = v.Type, v.Message1
	if code == "" {
		code = v.Code
	}
	if message == "" {
		message = v.Message2
	}
	return code, message
}

// parseXMLError reads the root element's name as the code, unless it holds
// an Error (or Errors>Error) element with a Code.
func parseXMLError(body []byte) (code, message string) {
	var v struct {
		XMLName  xml.Name
		Message1 string `xml:"message"`
		Message2 string `xml:"Message"`
		Error    struct {
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		} `xml:"Error"`
		Errors struct {
			Error struct {
				Code    string `xml:"Code"`
				Message string `xml:"Message"`
			} `xml:"Error"`
		} `xml:"Errors"`
	}
	if xml.Unmarshal(body, &v) != nil {
		return "", ""
	}
	switch {
	case v.Error.Code != "":
		return v.Error.Code, v.Error.Message
	case v.Errors.Error.Code != "":
		return v.Errors.Error.Code, v.Errors.Error.Message
	case v.XMLName.Local == "Error" || v.XMLName.Local == "Response" || v.XMLName.Local == "ErrorResponse":
		return "", ""
	}
	message = v.Message1
	if message == "" {
		message = v.Message2
	}
	return v.XMLName.Local, message
}

// firstLine returns s's first non-empty line, spaces collapsed, clipped.
func firstLine(s string) string {
	s = strings.TrimSpace(s)
	s, _, _ = strings.Cut(s, "\n")
	return clip(strings.Join(strings.Fields(s), " "), maxErrorText)
}

// clip cuts s to at most n bytes, on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
