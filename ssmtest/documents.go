package ssmtest

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// Names of the Session documents the emulator serves.
const (
	DocStartSSHSession             = "AWS-StartSSHSession"
	DocPortForwarding              = "AWS-StartPortForwardingSession"
	DocPortForwardingToRemoteHost  = "AWS-StartPortForwardingSessionToRemoteHost"
	DocRunShell                    = "SSM-SessionManagerRunShell"
	DocStartInteractiveCommand     = "AWS-StartInteractiveCommand"
	DocStartNonInteractiveCommand  = "AWS-StartNonInteractiveCommand"
	documentCreated                = "2019-03-01T00:00:00Z"
	portPattern                    = `^([1-9]|[1-9][0-9]{1,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$`
	localPortPattern               = `^([0-9]|[1-9][0-9]{1,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$`
	hostPattern                    = "^[^,$^&\\\\(\\\\)!;'\\\"<>\\\\`{}\\\\[\\\\]\\\\|#=]{3,}$"
	commandPropertiesForEachOSJSON = `{
    "windows": {
      "commands": "{{ command }}",
      "runAsElevated": false
    },
    "linux": {
      "commands": "{{ command }}",
      "runAsElevated": false
    },
    "macos": {
      "commands": "{{ command }}",
      "runAsElevated": false
    }
  }`
)

// The documents as GetDocument shows them, written after the shapes AWS
// publishes. Parameters stay as {{ name }} placeholders in properties: the
// agent substitutes the Parameters it is sent.
var staticDocuments = map[string]string{
	DocStartSSHSession: `{
  "schemaVersion": "1.0",
  "description": "Document to start SSH session",
  "sessionType": "Port",
  "parameters": {
    "portNumber": {
      "type": "String",
      "description": "(Optional) Port number of SSH server on the instance",
      "allowedPattern": "` + portPattern + `",
      "default": "22"
    }
  },
  "properties": {
    "portNumber": "{{ portNumber }}"
  }
}`,
	DocPortForwarding: `{
  "schemaVersion": "1.0",
  "description": "Document to start port forwarding session over Session Manager",
  "sessionType": "Port",
  "parameters": {
    "portNumber": {
      "type": "String",
      "description": "(Optional) Port number of the server on the instance",
      "allowedPattern": "` + portPattern + `",
      "default": "80"
    },
    "localPortNumber": {
      "type": "String",
      "description": "(Optional) Port number on local machine to forward traffic to. An open port is chosen at run-time if not provided",
      "allowedPattern": "` + localPortPattern + `",
      "default": "0"
    }
  },
  "properties": {
    "portNumber": "{{ portNumber }}",
    "type": "LocalPortForwarding",
    "localPortNumber": "{{ localPortNumber }}"
  }
}`,
	DocPortForwardingToRemoteHost: `{
  "schemaVersion": "1.0",
  "description": "Document to start port forwarding session over Session Manager to a remote host",
  "sessionType": "Port",
  "parameters": {
    "portNumber": {
      "type": "String",
      "description": "(Optional) Port number of the server on the remote host",
      "allowedPattern": "` + portPattern + `",
      "default": "80"
    },
    "localPortNumber": {
      "type": "String",
      "description": "(Optional) Port number on local machine to forward traffic to. An open port is chosen at run-time if not provided",
      "allowedPattern": "` + localPortPattern + `",
      "default": "0"
    },
    "host": {
      "type": "String",
      "description": "(Required) The hostname or IP address of the destination server",
      "allowedPattern": "` + hostPattern + `"
    }
  },
  "properties": {
    "portNumber": "{{ portNumber }}",
    "type": "LocalPortForwarding",
    "localPortNumber": "{{ localPortNumber }}",
    "host": "{{ host }}"
  }
}`,
	DocStartInteractiveCommand: `{
  "schemaVersion": "1.0",
  "description": "Document to run single interactive command on an instance",
  "sessionType": "InteractiveCommands",
  "parameters": {
    "command": {
      "type": "String",
      "description": "The command to run on the instance"
    }
  },
  "properties": ` + commandPropertiesForEachOSJSON + `
}`,
	DocStartNonInteractiveCommand: `{
  "schemaVersion": "1.0",
  "description": "Document to run single non-interactive command on an instance",
  "sessionType": "NonInteractiveCommands",
  "parameters": {
    "command": {
      "type": "String",
      "description": "The command to run on the instance"
    },
    "separateOutputStream": {
      "type": "String",
      "description": "(Optional) Send the command's stdout, stderr and exit code apart",
      "allowedValues": ["true", "false"],
      "default": "false"
    },
    "stdoutSeparatorPrefix": {
      "type": "String",
      "description": "(Optional) Prefix of the stdout parts when they are sent apart",
      "default": ""
    },
    "stderrSeparatorPrefix": {
      "type": "String",
      "description": "(Optional) Prefix of the stderr parts when they are sent apart",
      "default": ""
    }
  },
  "properties": {
    "linux": {
      "commands": "{{ command }}",
      "runAsElevated": false,
      "separateOutputStream": "{{ separateOutputStream }}",
      "stdOutSeparatorPrefix": "{{ stdoutSeparatorPrefix }}",
      "stdErrSeparatorPrefix": "{{ stderrSeparatorPrefix }}"
    },
    "macos": {
      "commands": "{{ command }}",
      "runAsElevated": false,
      "separateOutputStream": "{{ separateOutputStream }}",
      "stdOutSeparatorPrefix": "{{ stdoutSeparatorPrefix }}",
      "stdErrSeparatorPrefix": "{{ stderrSeparatorPrefix }}"
    }
  }
}`,
}

// sessionPreferences are the inputs of SSM-SessionManagerRunShell, the
// account's Session Manager preferences. Every session's DocumentContent
// carries them as "inputs".
type sessionPreferences struct {
	S3BucketName                string       `json:"s3BucketName"`
	S3KeyPrefix                 string       `json:"s3KeyPrefix"`
	S3EncryptionEnabled         bool         `json:"s3EncryptionEnabled"`
	CloudWatchLogGroupName      string       `json:"cloudWatchLogGroupName"`
	CloudWatchEncryptionEnabled bool         `json:"cloudWatchEncryptionEnabled"`
	CloudWatchStreamingEnabled  bool         `json:"cloudWatchStreamingEnabled"`
	KMSKeyID                    string       `json:"kmsKeyId"`
	RunAsEnabled                bool         `json:"runAsEnabled"`
	RunAsDefaultUser            string       `json:"runAsDefaultUser"`
	IdleSessionTimeout          string       `json:"idleSessionTimeout"` // minutes
	MaxSessionDuration          string       `json:"maxSessionDuration"` // minutes, "" for none
	ShellProfile                shellProfile `json:"shellProfile"`
}

type shellProfile struct {
	Windows string `json:"windows"`
	Linux   string `json:"linux"`
}

func (s *Server) preferences() sessionPreferences {
	p := sessionPreferences{
		S3EncryptionEnabled:         true,
		CloudWatchEncryptionEnabled: true,
		KMSKeyID:                    s.opts.KMSKeyID,
		RunAsEnabled:                s.opts.RunAsEnabled,
		RunAsDefaultUser:            s.opts.RunAsDefaultUser,
		ShellProfile:                shellProfile{Windows: s.opts.ShellProfileWindows, Linux: s.opts.ShellProfileLinux},
	}
	if d := s.idleTimeout(); d > 0 {
		p.IdleSessionTimeout = strconv.Itoa(int(d / time.Minute))
	}
	if d := s.opts.MaxSessionDuration; d > 0 {
		p.MaxSessionDuration = strconv.Itoa(int(d / time.Minute))
	}
	return p
}

// documentContent returns the content GetDocument shows for a document.
func (s *Server) documentContent(name string) (string, bool) {
	if name == DocRunShell {
		doc := struct {
			SchemaVersion string             `json:"schemaVersion"`
			Description   string             `json:"description"`
			SessionType   string             `json:"sessionType"`
			Inputs        sessionPreferences `json:"inputs"`
		}{"1.0", "Document to hold regional settings for Session Manager", "Standard_Stream", s.preferences()}
		b, _ := json.MarshalIndent(doc, "", "  ")
		return string(b), true
	}
	c, ok := staticDocuments[name]
	return c, ok
}

// docParameter is a parameter declaration of a document.
type docParameter struct {
	Type           string   `json:"type"`
	Description    string   `json:"description"`
	Default        any      `json:"default"`
	AllowedPattern string   `json:"allowedPattern"`
	AllowedValues  []string `json:"allowedValues"`
}

// ResolvedDocument is a Session document resolved for one StartSession
// request: what the service hands the agent (PROTOCOL.md section 9).
type ResolvedDocument struct {
	// Name is the document name (SSM-SessionManagerRunShell when the
	// request named none).
	Name string
	// SessionType is Port, Standard_Stream, InteractiveCommands or
	// NonInteractiveCommands.
	SessionType string
	// Content is the DocumentContent the agent receives: the document with
	// the session preferences (kmsKeyId, runAsEnabled, runAsDefaultUser,
	// idleSessionTimeout, maxSessionDuration, shellProfile, …) as "inputs".
	// Properties keep their {{ name }} placeholders; the agent substitutes
	// Parameters into them.
	Content json.RawMessage
	// Parameters holds every declared parameter's value after defaults:
	// a string for String parameters, a []string for StringList ones.
	Parameters map[string]any
	// Properties is the document's properties with Parameters substituted,
	// as the agent will see them (e.g. {"portNumber":"22"}).
	Properties any
}

// ResolveDocument checks a StartSession request's document and parameters
// as the service does and resolves them for the agent. Errors are
// *APIError: InvalidDocument for an unknown document, InvalidParameters
// for parameters the document does not declare, lacks, or whose values
// break the declaration, ValidationException for a malformed request.
func (s *Server) ResolveDocument(name string, params map[string][]string) (*ResolvedDocument, error) {
	if name == "" {
		name = DocRunShell
	}
	if !docNamePattern.MatchString(name) {
		return nil, validationErr(name, "documentName", "Member must satisfy regular expression pattern: "+docNamePattern.String())
	}
	text, ok := s.documentContent(name)
	if !ok {
		return nil, apiErr("InvalidDocument", "Document with name %s does not exist.", name)
	}
	var doc map[string]any
	var decl struct {
		SessionType string                   `json:"sessionType"`
		Parameters  map[string]*docParameter `json:"parameters"`
		Inputs      map[string]any           `json:"inputs"`
	}
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		return nil, fmt.Errorf("ssmtest: document %s: %w", name, err)
	}
	if err := json.Unmarshal([]byte(text), &decl); err != nil {
		return nil, fmt.Errorf("ssmtest: document %s: %w", name, err)
	}
	values, err := resolveParameters(decl.Parameters, params)
	if err != nil {
		return nil, err
	}
	// The session preferences become the inputs; the document's own
	// inputs (SSM-SessionManagerRunShell's are the preferences) win.
	var inputs map[string]any
	prefs, _ := json.Marshal(s.preferences())
	_ = json.Unmarshal(prefs, &inputs)
	maps.Copy(inputs, decl.Inputs)
	doc["inputs"] = inputs
	content, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("ssmtest: document %s: %w", name, err)
	}
	return &ResolvedDocument{
		Name:        name,
		SessionType: decl.SessionType,
		Content:     content,
		Parameters:  values,
		Properties:  substitute(doc["properties"], values),
	}, nil
}

var (
	docNamePattern   = regexp.MustCompile(`^[a-zA-Z0-9_\-.:/]{3,128}$`)
	paramNamePattern = regexp.MustCompile(`^.{1,255}$`)
	placeholder      = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}`)
)

func resolveParameters(decl map[string]*docParameter, given map[string][]string) (map[string]any, error) {
	for _, name := range slices.Sorted(maps.Keys(given)) {
		if !paramNamePattern.MatchString(name) {
			return nil, validationErr(name, "parameters", "Map keys must satisfy constraint: [Member must have length less than or equal to 255, Member must have length greater than or equal to 1]")
		}
		if decl[name] == nil {
			return nil, apiErr("InvalidParameters", "Parameter %q is not defined in the document.", name)
		}
	}
	values := make(map[string]any, len(decl))
	for _, name := range slices.Sorted(maps.Keys(decl)) {
		p := decl[name]
		v, ok := given[name]
		if !ok || len(v) == 0 {
			if p.Default == nil {
				return nil, apiErr("InvalidParameters", "Parameter %q is required but was not provided.", name)
			}
			values[name] = p.Default
			continue
		}
		if p.Type != "StringList" && len(v) != 1 {
			return nil, apiErr("InvalidParameters", "Parameter %q of type %s takes one value, not %d.", name, p.Type, len(v))
		}
		for _, e := range v {
			if err := p.check(name, e); err != nil {
				return nil, err
			}
		}
		if p.Type == "StringList" {
			values[name] = slices.Clone(v)
		} else {
			values[name] = v[0]
		}
	}
	return values, nil
}

func (p *docParameter) check(name, v string) error {
	if p.AllowedPattern != "" {
		re, err := regexp.Compile(p.AllowedPattern)
		if err != nil {
			return fmt.Errorf("ssmtest: parameter %s: %w", name, err)
		}
		if !re.MatchString(v) {
			return apiErr("InvalidParameters", "Parameter %q value %q does not match the allowed pattern %s.", name, v, p.AllowedPattern)
		}
	}
	if len(p.AllowedValues) > 0 && !slices.Contains(p.AllowedValues, v) {
		return apiErr("InvalidParameters", "Parameter %q value %q is not one of the allowed values.", name, v)
	}
	return nil
}

// substitute replaces {{ name }} in the strings of a decoded JSON value.
func substitute(v any, params map[string]any) any {
	switch t := v.(type) {
	case string:
		return placeholder.ReplaceAllStringFunc(t, func(m string) string {
			switch p := params[placeholder.FindStringSubmatch(m)[1]].(type) {
			case string:
				return p
			case []string:
				return fmt.Sprint(p)
			default:
				return m
			}
		})
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = substitute(e, params)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = substitute(e, params)
		}
		return out
	}
	return v
}
