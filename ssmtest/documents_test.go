package ssmtest

import (
	"encoding/json"
	"errors"
	"regexp"
	"testing"
	"time"
)

// TestDocumentsWellFormed: every document is JSON of the published shape,
// its patterns compile, and its placeholders name declared parameters.
func TestDocumentsWellFormed(t *testing.T) {
	s := NewUnstartedServer(Options{})
	for _, name := range []string{DocStartSSHSession, DocPortForwarding, DocPortForwardingToRemoteHost, DocRunShell,
		DocStartInteractiveCommand, DocStartNonInteractiveCommand} {
		text, ok := s.documentContent(name)
		if !ok {
			t.Fatalf("%s missing", name)
		}
		var doc struct {
			SchemaVersion string                   `json:"schemaVersion"`
			Description   string                   `json:"description"`
			SessionType   string                   `json:"sessionType"`
			Parameters    map[string]*docParameter `json:"parameters"`
			Properties    json.RawMessage          `json:"properties"`
		}
		if err := json.Unmarshal([]byte(text), &doc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if doc.SchemaVersion != "1.0" || doc.Description == "" || doc.SessionType == "" {
			t.Errorf("%s: header %+v", name, doc)
		}
		for pname, p := range doc.Parameters {
			if p.Type != "String" || p.Description == "" {
				t.Errorf("%s: parameter %s: %+v", name, pname, p)
			}
			if _, err := regexp.Compile(p.AllowedPattern); err != nil {
				t.Errorf("%s: parameter %s: %v", name, pname, err)
			}
		}
		for _, m := range placeholder.FindAllStringSubmatch(string(doc.Properties), -1) {
			if doc.Parameters[m[1]] == nil {
				t.Errorf("%s: placeholder %s names no parameter", name, m[0])
			}
		}
	}
}

func TestResolveDocument(t *testing.T) {
	s := NewUnstartedServer(Options{KMSKeyID: "alias/k", IdleSessionTimeout: -1, ShellProfileLinux: "exec bash"})
	tests := []struct {
		name        string
		doc         string
		params      map[string][]string
		sessionType string
		want        map[string]any
		props       any
	}{
		{"ssh default port", DocStartSSHSession, nil, "Port",
			map[string]any{"portNumber": "22"}, map[string]any{"portNumber": "22"}},
		{"ssh other port", DocStartSSHSession, map[string][]string{"portNumber": {"2222"}}, "Port",
			map[string]any{"portNumber": "2222"}, map[string]any{"portNumber": "2222"}},
		{"port forwarding", DocPortForwarding, map[string][]string{"portNumber": {"8080"}, "localPortNumber": {"18080"}}, "Port",
			map[string]any{"portNumber": "8080", "localPortNumber": "18080"},
			map[string]any{"portNumber": "8080", "localPortNumber": "18080", "type": "LocalPortForwarding"}},
		{"remote host", DocPortForwardingToRemoteHost, map[string][]string{"host": {"db.internal"}}, "Port",
			map[string]any{"portNumber": "80", "localPortNumber": "0", "host": "db.internal"},
			map[string]any{"portNumber": "80", "localPortNumber": "0", "type": "LocalPortForwarding", "host": "db.internal"}},
		{"shell", "", nil, "Standard_Stream", map[string]any{}, nil},
		{"interactive command", DocStartInteractiveCommand, map[string][]string{"command": {"top -b"}}, "InteractiveCommands",
			map[string]any{"command": "top -b"}, nil},
		{"non-interactive command", DocStartNonInteractiveCommand, map[string][]string{"command": {"uname -a"}}, "NonInteractiveCommands",
			map[string]any{"command": "uname -a", "separateOutputStream": "false", "stdoutSeparatorPrefix": "", "stderrSeparatorPrefix": ""}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := s.ResolveDocument(tt.doc, tt.params)
			if err != nil {
				t.Fatal(err)
			}
			if r.SessionType != tt.sessionType || !jsonEqual(r.Parameters, tt.want) {
				t.Errorf("type %s, parameters %v; want %s, %v", r.SessionType, r.Parameters, tt.sessionType, tt.want)
			}
			if tt.props != nil && !jsonEqual(r.Properties, tt.props) {
				t.Errorf("properties %v, want %v", r.Properties, tt.props)
			}
			var content struct {
				SessionType string         `json:"sessionType"`
				Inputs      map[string]any `json:"inputs"`
				Properties  map[string]any `json:"properties"`
			}
			if err := json.Unmarshal(r.Content, &content); err != nil {
				t.Fatal(err)
			}
			if content.SessionType != tt.sessionType || content.Inputs["kmsKeyId"] != "alias/k" ||
				content.Inputs["idleSessionTimeout"] != "" || content.Inputs["runAsEnabled"] != false ||
				content.Inputs["shellProfile"].(map[string]any)["linux"] != "exec bash" {
				t.Errorf("content %s", r.Content)
			}
		})
	}
	r, err := s.ResolveDocument(DocStartInteractiveCommand, map[string][]string{"command": {"top"}})
	if err != nil {
		t.Fatal(err)
	}
	if linux := r.Properties.(map[string]any)["linux"].(map[string]any); linux["commands"] != "top" || linux["runAsElevated"] != false {
		t.Errorf("interactive command properties %v", r.Properties)
	}
}

func TestResolveDocumentErrors(t *testing.T) {
	s := NewUnstartedServer(Options{})
	tests := []struct {
		doc    string
		params map[string][]string
		code   string
	}{
		{"AWS-Nope", nil, "InvalidDocument"},
		{"x", nil, "ValidationException"},
		{DocStartSSHSession, map[string][]string{"portNumber": {"0"}}, "InvalidParameters"},
		{DocStartSSHSession, map[string][]string{"portNumber": {"22x"}}, "InvalidParameters"},
		{DocPortForwarding, map[string][]string{"localPortNumber": {"70000"}}, "InvalidParameters"},
		{DocPortForwardingToRemoteHost, map[string][]string{"host": {"a;b"}}, "InvalidParameters"},
		{DocPortForwardingToRemoteHost, map[string][]string{"host": {"db"}}, "InvalidParameters"},
		{DocStartInteractiveCommand, nil, "InvalidParameters"},
		{DocRunShell, map[string][]string{"portNumber": {"22"}}, "InvalidParameters"},
		{DocStartSSHSession, map[string][]string{"": {"22"}}, "ValidationException"},
	}
	for _, tt := range tests {
		_, err := s.ResolveDocument(tt.doc, tt.params)
		var ae *APIError
		if !errors.As(err, &ae) || ae.Code != tt.code {
			t.Errorf("%s %v: %v, want %s", tt.doc, tt.params, err, tt.code)
		}
	}
}

func TestPreferencesFromOptions(t *testing.T) {
	p := NewUnstartedServer(Options{MaxSessionDuration: 90 * time.Minute}).preferences()
	if p.IdleSessionTimeout != "20" || p.MaxSessionDuration != "90" || p.KMSKeyID != "" || p.RunAsEnabled ||
		!p.S3EncryptionEnabled || !p.CloudWatchEncryptionEnabled {
		t.Errorf("preferences %+v", p)
	}
}
