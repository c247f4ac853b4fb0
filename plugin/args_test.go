package plugin

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

const (
	testToken = "AAEAAS3cr3tT0k3nValueThatMustNeverBePrinted"
	testResp  = `{"SessionId":"user-0123456789abcdef0","TokenValue":"` + testToken + `","StreamUrl":"wss://ssmmessages.us-east-1.amazonaws.com/v1/data-channel/user-0123456789abcdef0?role=publish_subscribe","ResponseMetadata":{"RequestId":"r","HTTPStatusCode":200}}`
	testECS   = `{"sessionId": "ecs-execute-command-0abc", "streamUrl": "wss://ssmmessages.eu-west-1.amazonaws.com/v1/data-channel/ecs-execute-command-0abc?role=publish_subscribe", "tokenValue": "` + testToken + `"}`
	testReq   = `{"Target": "i-0123456789abcdef0", "DocumentName": "AWS-StartPortForwardingSession", "Parameters": {"portNumber": ["80"], "localPortNumber": ["8080"]}}`
)

func noEnv(string) string { return "" }

func TestParseArgsForms(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want Args
	}{
		{"none", nil, Args{Mode: ModeInstalled}},
		{"version", []string{"--version"}, Args{Mode: ModeVersion}},
		{"legacy", []string{testResp, "us-east-1", "StartSession"}, Args{Mode: ModeSession, Region: "us-east-1"}},
		{"profile", []string{testResp, "us-east-1", "StartSession", "dev"}, Args{Mode: ModeSession, Region: "us-east-1", Profile: "dev"}},
		{"full", []string{testResp, "us-east-1", "StartSession", "", testReq, "https://ssm.us-east-1.amazonaws.com"},
			Args{Mode: ModeSession, Region: "us-east-1", Endpoint: "https://ssm.us-east-1.amazonaws.com",
				Request: Request{Target: "i-0123456789abcdef0", DocumentName: "AWS-StartPortForwardingSession",
					Parameters: map[string][]string{"portNumber": {"80"}, "localPortNumber": {"8080"}}}}},
		{"ecs", []string{testECS, "eu-west-1", "StartSession", "", `{"Target": "ecs:c_0123456789abcdef0123456789abcdef_0123456789abcdef0123456789abcdef-1"}`, "https://ecs.eu-west-1.amazonaws.com"},
			Args{Mode: ModeSession, Region: "eu-west-1", ECS: true, Endpoint: "https://ecs.eu-west-1.amazonaws.com",
				Request: Request{Target: "ecs:c_0123456789abcdef0123456789abcdef_0123456789abcdef0123456789abcdef-1"}}},
		{"extra args ignored", []string{testResp, "us-east-1", "StartSession", "", "{}", "", "more"}, Args{Mode: ModeSession, Region: "us-east-1"}},
		{"single-string parameter", []string{testResp, "us-east-1", "StartSession", "", `{"Target":"i-1","Parameters":{"portNumber":"22"}}`},
			Args{Mode: ModeSession, Region: "us-east-1", Request: Request{Target: "i-1", Parameters: map[string][]string{"portNumber": {"22"}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseArgs(tc.args, noEnv, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want.Mode == ModeSession {
				if got.Response.TokenValue != testToken || got.Response.SessionID == "" || !strings.HasPrefix(got.Response.StreamURL, "wss://") {
					t.Errorf("response = %+v", got.Response)
				}
				tc.want.Response = got.Response
			}
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(tc.want)
			if string(gj) != string(wj) {
				t.Errorf("got  %s\nwant %s", gj, wj)
			}
		})
	}
}

func TestParseArgsEnvironment(t *testing.T) {
	const name = ResponseEnvPrefix + "_12345"
	env := map[string]string{name: testResp}
	var unset []string
	a, err := ParseArgs([]string{name, "us-east-1", "StartSession", "p", testReq, "https://ssm.us-east-1.amazonaws.com"},
		func(k string) string { return env[k] }, func(k string) error { unset = append(unset, k); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if a.ResponseEnv != name || a.Response.TokenValue != testToken || a.Profile != "p" {
		t.Errorf("got %+v", a)
	}
	if len(unset) != 1 || unset[0] != name {
		t.Errorf("unset %q, want the response's variable cleared", unset)
	}
	_, err = ParseArgs([]string{ResponseEnvPrefix, "us-east-1", "StartSession"}, noEnv, nil)
	if err == nil || !strings.Contains(err.Error(), "empty or not set") {
		t.Errorf("missing variable: %v", err)
	}
}

func TestParseArgsErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown operation", []string{"start"}, `unknown operation "start"`},
		{"two args", []string{testResp, "us-east-1"}, "unknown operation <JSON"},
		{"bad operation", []string{testResp, "us-east-1", "ResumeSession"}, `invalid operation "ResumeSession"`},
		{"empty region", []string{testResp, "", "StartSession"}, "empty region"},
		{"not JSON", []string{"nope", "us-east-1", "StartSession"}, "not a JSON object (syntax error at byte 2)"},
		{"array", []string{"[1]", "us-east-1", "StartSession"}, "not a JSON object"},
		{"trailing", []string{testResp + "{}", "us-east-1", "StartSession"}, "not a JSON object (trailing data or null)"},
		{"no session id", []string{`{"StreamUrl":"wss://h/x","TokenValue":"` + testToken + `"}`, "r", "StartSession"}, "has no SessionId"},
		{"no token", []string{`{"SessionId":"s","StreamUrl":"wss://h/x"}`, "r", "StartSession"}, "has no TokenValue"},
		{"number", []string{`{"SessionId":1}`, "r", "StartSession"}, "SessionId in the StartSession response is not a string"},
		{"https stream", []string{`{"SessionId":"s","StreamUrl":"https://h/x","TokenValue":"` + testToken + `"}`, "r", "StartSession"}, "not a wss:// URL"},
		{"bad request", []string{testResp, "r", "StartSession", "", `{"Target":1}`}, "StartSession request is not a JSON object"},
		{"bad parameter", []string{testResp, "r", "StartSession", "", `{"Parameters":{"portNumber":[22]}}`}, `parameter "portNumber"`},
		{"bad endpoint", []string{testResp, "r", "StartSession", "", "{}", "ssm.amazonaws.com"}, `endpoint "ssm.amazonaws.com" is not`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseArgs(tc.args, noEnv, nil)
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("err = %v, want a *UsageError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want %q in it", err, tc.want)
			}
			if strings.Contains(err.Error(), testToken) || strings.Contains(err.Error(), "AAEAA") {
				t.Errorf("the error shows the token: %q", err)
			}
		})
	}
}

// FuzzParseArgs: any command line parses or fails with a *UsageError that
// never shows the token.
func FuzzParseArgs(f *testing.F) {
	f.Add(testResp, "us-east-1", "StartSession", "", testReq, "https://ssm.us-east-1.amazonaws.com", uint8(6))
	f.Add(testECS, "eu-west-1", "StartSession", "prof", `{"Target":"ecs:x"}`, "http://127.0.0.1:1", uint8(6))
	f.Add(ResponseEnvPrefix, "r", "StartSession", "", "", "", uint8(3))
	f.Add(`{"SessionId":"a","StreamUrl":"ws://b","TokenValue":"`+testToken+`"}`, "r", "StartSession", "", `{"Parameters":{"a":"b"}}`, "", uint8(5))
	f.Fuzz(func(t *testing.T, resp, region, op, profile, req, endpoint string, n uint8) {
		args := []string{resp, region, op, profile, req, endpoint}[:int(n)%7]
		env := func(k string) string {
			if k == resp {
				return `{"SessionId":"s","StreamUrl":"wss://h/","TokenValue":"` + testToken + `"}`
			}
			return ""
		}
		a, err := ParseArgs(args, env, nil)
		if err != nil {
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Fatalf("the error shows the token: %q", err)
			}
			return
		}
		if a.Mode == ModeSession && (a.Response.SessionID == "" || a.Response.TokenValue == "" || a.Region == "" || op != Operation) {
			t.Fatalf("accepted an incomplete session: %+v", a)
		}
	})
}
