package ssmtest

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

func TestSessionLifecycle(t *testing.T) {
	s, cfg := startServer(t, Options{})
	c := ssm.NewFromConfig(cfg)
	ctx := t.Context()

	start, err := c.StartSession(ctx, &ssm.StartSessionInput{
		Target:       aws.String(InstanceAmazonLinux),
		DocumentName: aws.String(DocStartSSHSession),
		Parameters:   map[string][]string{"portNumber": {"22"}},
		Reason:       aws.String("lifecycle test"),
	})
	if err != nil {
		t.Fatal(err)
	}
	id, tok1 := aws.ToString(start.SessionId), aws.ToString(start.TokenValue)
	if !regexp.MustCompile(`^ssmtest-[0-9a-f]{17}$`).MatchString(id) {
		t.Errorf("session id %q is not <user>-<17 hex>", id)
	}
	if len(tok1) < 43 {
		t.Errorf("token of %d characters is shorter than 32 bytes in base64", len(tok1))
	}
	u, err := url.Parse(aws.ToString(start.StreamUrl))
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "wss" || "https://"+u.Host != s.URL() || u.Path != "/v1/data-channel/"+id ||
		u.Query().Get("role") != "publish_subscribe" || u.Query().Get("cell-number") == "" {
		t.Errorf("StreamUrl %s is not wss://<server>/v1/data-channel/%s?role=publish_subscribe&cell-number=…", u, id)
	}

	active, err := c.DescribeSessions(ctx, &ssm.DescribeSessionsInput{State: ssmtypes.SessionStateActive})
	if err != nil {
		t.Fatal(err)
	}
	if len(active.Sessions) != 1 || aws.ToString(active.Sessions[0].SessionId) != id ||
		active.Sessions[0].Status != ssmtypes.SessionStatusConnecting || aws.ToString(active.Sessions[0].Reason) != "lifecycle test" ||
		aws.ToString(active.Sessions[0].Owner) != defaultCallerARN || active.Sessions[0].StartDate == nil {
		t.Fatalf("active sessions = %+v", active.Sessions)
	}

	// ResumeSession supersedes the first token.
	resumed, err := c.ResumeSession(ctx, &ssm.ResumeSessionInput{SessionId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	tok2 := aws.ToString(resumed.TokenValue)
	if tok2 == tok1 || aws.ToString(resumed.SessionId) != id || !strings.Contains(aws.ToString(resumed.StreamUrl), id) {
		t.Fatalf("ResumeSession = %+v", resumed)
	}
	reg := s.Sessions()
	if _, err := reg.ClaimClientToken(id, tok1); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("claiming the superseded token: %v, want ErrTokenExpired", err)
	}
	if _, err := reg.ClaimClientToken(id, "not-a-token"); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("claiming a wrong token: %v, want ErrTokenInvalid", err)
	}
	if _, err := reg.ClaimClientToken("ssmtest-00000000000000000", tok2); !errors.Is(err, ErrNoSuchSession) {
		t.Errorf("claiming for another session: %v, want ErrNoSuchSession", err)
	}
	sess, err := reg.ClaimClientToken(id, tok2)
	if err != nil || sess.ID != id {
		t.Fatalf("claiming the current token: %v", err)
	}
	if _, err := reg.ClaimClientToken(id, tok2); !errors.Is(err, ErrTokenUsed) {
		t.Errorf("claiming a token twice: %v, want ErrTokenUsed", err)
	}
	if err := reg.SetState(id, SessionConnected); err != nil || sess.State() != SessionConnected {
		t.Fatalf("SetState Connected: %v, state %s", err, sess.State())
	}

	if _, err := c.TerminateSession(ctx, &ssm.TerminateSessionInput{SessionId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	if sess.State() != SessionTerminated || sess.EndDate().IsZero() {
		t.Fatalf("after TerminateSession: state %s, end %v", sess.State(), sess.EndDate())
	}
	if err := reg.SetState(id, SessionConnected); !errors.Is(err, ErrSessionEnded) {
		t.Errorf("SetState after the end: %v, want ErrSessionEnded", err)
	}
	history, err := c.DescribeSessions(ctx, &ssm.DescribeSessionsInput{State: ssmtypes.SessionStateHistory})
	if err != nil {
		t.Fatal(err)
	}
	if len(history.Sessions) != 1 || history.Sessions[0].Status != ssmtypes.SessionStatusTerminated || history.Sessions[0].EndDate == nil {
		t.Fatalf("history = %+v", history.Sessions)
	}
	// Terminating again is harmless; resuming an ended session is not.
	if _, err := c.TerminateSession(ctx, &ssm.TerminateSessionInput{SessionId: aws.String(id)}); err != nil {
		t.Errorf("second TerminateSession: %v", err)
	}
	var dne *ssmtypes.DoesNotExistException
	if _, err := c.ResumeSession(ctx, &ssm.ResumeSessionInput{SessionId: aws.String(id)}); !errors.As(err, &dne) {
		t.Errorf("ResumeSession of an ended session: %v, want DoesNotExistException", err)
	}
	if _, err := c.TerminateSession(ctx, &ssm.TerminateSessionInput{SessionId: aws.String("ssmtest-0123456789abcdef0")}); !errors.As(err, &dne) {
		t.Errorf("TerminateSession of an unknown session: %v, want DoesNotExistException", err)
	}
}

func TestStartSessionErrors(t *testing.T) {
	s, cfg := startServer(t, Options{})
	c := ssm.NewFromConfig(cfg)
	var (
		notConnected *ssmtypes.TargetNotConnected
		invalidDoc   *ssmtypes.InvalidDocument
		invalidParam *ssmtypes.InvalidParameters
		validation   *ssmtypes.ValidationException
		denied       *ssmtypes.AccessDeniedException
	)
	tests := []struct {
		name   string
		in     ssm.StartSessionInput
		before func()
		target any
		msg    string
	}{
		{name: "unknown instance", in: ssm.StartSessionInput{Target: aws.String("i-0123456789abcdef0")},
			target: &notConnected, msg: "i-0123456789abcdef0 is not connected."},
		{name: "stopped instance", in: ssm.StartSessionInput{Target: aws.String(InstanceSUSE)},
			target: &notConnected, msg: InstanceSUSE + " is not connected."},
		{name: "agent connection lost", in: ssm.StartSessionInput{Target: aws.String(InstanceRHEL)},
			target: &notConnected, msg: InstanceRHEL + " is not connected."},
		{name: "agent offline fault", in: ssm.StartSessionInput{Target: aws.String(InstanceDebian)},
			before: func() { s.Faults().AgentOffline(InstanceDebian, true) }, target: &notConnected},
		{name: "unknown document", in: ssm.StartSessionInput{Target: aws.String(InstanceUbuntu), DocumentName: aws.String("AWS-NoSuchDocument")},
			target: &invalidDoc, msg: "Document with name AWS-NoSuchDocument does not exist."},
		{name: "undeclared parameter", in: ssm.StartSessionInput{Target: aws.String(InstanceUbuntu), DocumentName: aws.String(DocStartSSHSession),
			Parameters: map[string][]string{"port": {"22"}}}, target: &invalidParam},
		{name: "port out of range", in: ssm.StartSessionInput{Target: aws.String(InstanceUbuntu), DocumentName: aws.String(DocStartSSHSession),
			Parameters: map[string][]string{"portNumber": {"65536"}}}, target: &invalidParam},
		{name: "two values for a String", in: ssm.StartSessionInput{Target: aws.String(InstanceUbuntu), DocumentName: aws.String(DocPortForwarding),
			Parameters: map[string][]string{"portNumber": {"80", "81"}}}, target: &invalidParam},
		{name: "remote host missing", in: ssm.StartSessionInput{Target: aws.String(InstanceUbuntu), DocumentName: aws.String(DocPortForwardingToRemoteHost),
			Parameters: map[string][]string{"portNumber": {"5432"}}}, target: &invalidParam},
		{name: "parameters for the shell", in: ssm.StartSessionInput{Target: aws.String(InstanceUbuntu),
			Parameters: map[string][]string{"command": {"id"}}}, target: &invalidParam},
		{name: "malformed document name", in: ssm.StartSessionInput{Target: aws.String(InstanceUbuntu), DocumentName: aws.String("a b")},
			target: &validation},
		{name: "reason too long", in: ssm.StartSessionInput{Target: aws.String(InstanceUbuntu), Reason: aws.String(strings.Repeat("x", 257))},
			target: &validation},
		{name: "access denied", in: ssm.StartSessionInput{Target: aws.String(InstanceUbuntu)},
			before: func() { s.Faults().APIAccessDenied("StartSession", true) }, target: &denied,
			msg: "User: " + defaultCallerARN + " is not authorized to perform: ssm:StartSession on resource: arn:aws:ec2:us-east-1:123456789012:instance/" + InstanceUbuntu + " because no identity-based policy allows the ssm:StartSession action"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.Faults().Set(func(f *FaultSet) { *f = FaultSet{} })
			if tt.before != nil {
				tt.before()
			}
			_, err := c.StartSession(t.Context(), &tt.in)
			if err == nil || !errors.As(err, tt.target) {
				t.Fatalf("StartSession: %v (%T), want %T", err, err, tt.target)
			}
			if tt.msg != "" && !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("message %q lacks %q", err, tt.msg)
			}
		})
	}
	if n := len(s.Sessions().All()); n != 0 {
		t.Errorf("%d sessions left behind by failed starts", n)
	}
}

// TestFleetChangesAtRunTime: stopping and starting an instance changes
// what StartSession answers.
func TestFleetChangesAtRunTime(t *testing.T) {
	s, cfg := startServer(t, Options{})
	c := ssm.NewFromConfig(cfg)
	if err := s.Fleet().SetState(InstanceUbuntu, StateStopped); err != nil {
		t.Fatal(err)
	}
	var notConnected *ssmtypes.TargetNotConnected
	if _, err := c.StartSession(t.Context(), &ssm.StartSessionInput{Target: aws.String(InstanceUbuntu)}); !errors.As(err, &notConnected) {
		t.Fatalf("stopped: %v", err)
	}
	if err := s.Fleet().SetState(InstanceUbuntu, StateRunning); err != nil {
		t.Fatal(err)
	}
	out, err := c.StartSession(t.Context(), &ssm.StartSessionInput{Target: aws.String(InstanceUbuntu)})
	if err != nil {
		t.Fatalf("restarted: %v", err)
	}
	if _, err := c.TerminateSession(t.Context(), &ssm.TerminateSessionInput{SessionId: out.SessionId}); err != nil {
		t.Fatal(err)
	}
}

// TestStartSessionHooks: OnStart receives the resolved session and its
// error is the caller's error.
func TestStartSessionHooks(t *testing.T) {
	s := NewUnstartedServer(Options{
		Logf: t.Logf, KMSKeyID: DefaultKMSAlias, RunAsEnabled: true, RunAsDefaultUser: "ec2-user",
		IdleSessionTimeout: 15 * time.Minute, MaxSessionDuration: 2 * time.Hour,
	})
	var started []*Session
	refuse := false
	var terminated []string
	s.SetHooks(Hooks{
		OnStart: func(sess *Session) error {
			if refuse {
				return errTargetNotConnected(sess.Target)
			}
			started = append(started, sess)
			return nil
		},
		OnTerminate: func(sess *Session, reason string) { terminated = append(terminated, reason) },
	})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	cfg, _ := s.AWSConfig(t.Context())
	c := ssm.NewFromConfig(cfg)
	out, err := c.StartSession(t.Context(), &ssm.StartSessionInput{
		Target: aws.String(InstanceDebian), DocumentName: aws.String(DocPortForwardingToRemoteHost),
		Parameters: map[string][]string{"host": {"db.internal"}, "portNumber": {"5432"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(started) != 1 {
		t.Fatalf("OnStart called %d times", len(started))
	}
	sess := started[0]
	if sess.ID != aws.ToString(out.SessionId) || sess.Target != InstanceDebian || sess.SessionType != "Port" ||
		sess.RunAsUser != "ec2-user" || sess.Owner != defaultCallerARN || sess.KMSKeyID != DefaultKMSAlias ||
		sess.MaxDuration != 2*time.Hour {
		t.Errorf("session = %+v", sess)
	}
	wantParams := map[string]any{"host": "db.internal", "portNumber": "5432", "localPortNumber": "0"}
	if got := sess.AgentParameters(); !jsonEqual(got, wantParams) {
		t.Errorf("parameters = %v, want %v", got, wantParams)
	}
	var doc struct {
		SessionType string         `json:"sessionType"`
		Inputs      map[string]any `json:"inputs"`
		Properties  map[string]any `json:"properties"`
	}
	if err := json.Unmarshal(sess.DocumentContent, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.SessionType != "Port" || doc.Inputs["kmsKeyId"] != DefaultKMSAlias || doc.Inputs["runAsEnabled"] != true ||
		doc.Inputs["runAsDefaultUser"] != "ec2-user" || doc.Inputs["idleSessionTimeout"] != "15" ||
		doc.Inputs["maxSessionDuration"] != "120" || doc.Properties["host"] != "{{ host }}" {
		t.Errorf("document content = %s", sess.DocumentContent)
	}
	if !jsonEqual(sess.Properties, map[string]any{"host": "db.internal", "portNumber": "5432", "localPortNumber": "0", "type": "LocalPortForwarding"}) {
		t.Errorf("properties = %v", sess.Properties)
	}
	if _, err := c.TerminateSession(t.Context(), &ssm.TerminateSessionInput{SessionId: out.SessionId}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(terminated, []string{ReasonTerminated}) {
		t.Errorf("OnTerminate reasons = %q", terminated)
	}

	refuse = true
	var notConnected *ssmtypes.TargetNotConnected
	if _, err := c.StartSession(t.Context(), &ssm.StartSessionInput{Target: aws.String(InstanceDebian)}); !errors.As(err, &notConnected) {
		t.Fatalf("refused by OnStart: %v", err)
	}
	if n := len(s.Sessions().All()); n != 1 {
		t.Errorf("%d sessions registered, want only the first", n)
	}
}

func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func TestDescribeSessionsFilters(t *testing.T) {
	_, cfg := startServer(t, Options{})
	c := ssm.NewFromConfig(cfg)
	ctx := t.Context()
	before := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	var ids []string
	for _, target := range []string{InstanceAmazonLinux, InstanceUbuntu, InstanceUbuntu} {
		out, err := c.StartSession(ctx, &ssm.StartSessionInput{Target: aws.String(target)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, aws.ToString(out.SessionId))
	}
	t.Cleanup(func() { // after t.Context() is cancelled, before Close
		for _, id := range ids {
			_, _ = c.TerminateSession(context.Background(), &ssm.TerminateSessionInput{SessionId: aws.String(id)})
		}
	})
	count := func(filters ...ssmtypes.SessionFilter) int {
		t.Helper()
		out, err := c.DescribeSessions(ctx, &ssm.DescribeSessionsInput{State: ssmtypes.SessionStateActive, Filters: filters})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Sessions)
	}
	filter := func(k ssmtypes.SessionFilterKey, v string) ssmtypes.SessionFilter {
		return ssmtypes.SessionFilter{Key: k, Value: aws.String(v)}
	}
	checks := []struct {
		f    []ssmtypes.SessionFilter
		want int
	}{
		{nil, 3},
		{[]ssmtypes.SessionFilter{filter(ssmtypes.SessionFilterKeyTargetId, InstanceUbuntu)}, 2},
		{[]ssmtypes.SessionFilter{filter(ssmtypes.SessionFilterKeySessionId, ids[0])}, 1},
		{[]ssmtypes.SessionFilter{filter(ssmtypes.SessionFilterKeyOwner, defaultCallerARN)}, 3},
		{[]ssmtypes.SessionFilter{filter(ssmtypes.SessionFilterKeyStatus, "Connected")}, 0},
		{[]ssmtypes.SessionFilter{filter(ssmtypes.SessionFilterKeyInvokedAfter, before)}, 3},
		{[]ssmtypes.SessionFilter{filter(ssmtypes.SessionFilterKeyInvokedBefore, before)}, 0},
	}
	for _, ch := range checks {
		if got := count(ch.f...); got != ch.want {
			t.Errorf("filters %+v: %d sessions, want %d", ch.f, got, ch.want)
		}
	}
	var validation *ssmtypes.ValidationException
	if _, err := c.DescribeSessions(ctx, &ssm.DescribeSessionsInput{State: ssmtypes.SessionStateActive,
		Filters: []ssmtypes.SessionFilter{filter("Colour", "blue")}}); !errors.As(err, &validation) {
		t.Errorf("unknown filter key: %v, want ValidationException", err)
	}

	// Pages of one, newest first.
	var paged []string
	p := ssm.NewDescribeSessionsPaginator(c, &ssm.DescribeSessionsInput{State: ssmtypes.SessionStateActive, MaxResults: aws.Int32(1)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page.Sessions {
			paged = append(paged, aws.ToString(s.SessionId))
		}
	}
	if want := []string{ids[2], ids[1], ids[0]}; !slices.Equal(paged, want) {
		t.Errorf("paged %v, want %v", paged, want)
	}
	var badToken *ssmtypes.InvalidNextToken
	if _, err := c.DescribeSessions(ctx, &ssm.DescribeSessionsInput{State: ssmtypes.SessionStateActive,
		NextToken: aws.String("forged")}); !errors.As(err, &badToken) {
		t.Errorf("forged NextToken: %v, want InvalidNextToken", err)
	}
}

func TestDescribeInstanceInformation(t *testing.T) {
	_, cfg := startServer(t, Options{})
	c := ssm.NewFromConfig(cfg)
	ctx := t.Context()
	list := func(in *ssm.DescribeInstanceInformationInput) []string {
		t.Helper()
		var ids []string
		p := ssm.NewDescribeInstanceInformationPaginator(c, in)
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, info := range page.InstanceInformationList {
				ids = append(ids, aws.ToString(info.InstanceId))
			}
		}
		return ids
	}
	all := list(&ssm.DescribeInstanceInformationInput{MaxResults: aws.Int32(5)})
	if len(all) != 7 {
		t.Fatalf("all instances over pages of 5: %v", all)
	}
	checks := []struct {
		name string
		in   ssm.DescribeInstanceInformationInput
		want []string
	}{
		{"ping status", ssm.DescribeInstanceInformationInput{Filters: []ssmtypes.InstanceInformationStringFilter{
			{Key: aws.String("PingStatus"), Values: []string{"ConnectionLost"}}}}, []string{InstanceRHEL, InstanceSUSE}},
		{"instance ids (filter list)", ssm.DescribeInstanceInformationInput{InstanceInformationFilterList: []ssmtypes.InstanceInformationFilter{
			{Key: ssmtypes.InstanceInformationFilterKeyInstanceIds, ValueSet: []string{InstanceUbuntu, ManagedNodeOnPrem}}}},
			[]string{InstanceUbuntu, ManagedNodeOnPrem}},
		{"platform", ssm.DescribeInstanceInformationInput{Filters: []ssmtypes.InstanceInformationStringFilter{
			{Key: aws.String("PlatformTypes"), Values: []string{"Windows"}}}}, []string{InstanceWindows}},
		{"managed nodes", ssm.DescribeInstanceInformationInput{Filters: []ssmtypes.InstanceInformationStringFilter{
			{Key: aws.String("ResourceType"), Values: []string{"ManagedInstance"}}}}, []string{ManagedNodeOnPrem}},
		{"name tag", ssm.DescribeInstanceInformationInput{Filters: []ssmtypes.InstanceInformationStringFilter{
			{Key: aws.String("tag:Name"), Values: []string{"app-ubuntu"}}}}, []string{InstanceUbuntu}},
		{"tag key", ssm.DescribeInstanceInformationInput{Filters: []ssmtypes.InstanceInformationStringFilter{
			{Key: aws.String("tag-key"), Values: []string{"Role"}}}}, []string{InstanceAmazonLinux, InstanceUbuntu}},
	}
	for _, ch := range checks {
		if got := list(&ch.in); !slices.Equal(got, ch.want) {
			t.Errorf("%s: %v, want %v", ch.name, got, ch.want)
		}
	}

	out, err := c.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{Filters: []ssmtypes.InstanceInformationStringFilter{
		{Key: aws.String("InstanceIds"), Values: []string{ManagedNodeOnPrem}}}})
	if err != nil {
		t.Fatal(err)
	}
	info := out.InstanceInformationList[0]
	if info.ResourceType != ssmtypes.ResourceTypeManagedInstance || info.PingStatus != ssmtypes.PingStatusOnline ||
		info.PlatformType != ssmtypes.PlatformTypeLinux || aws.ToString(info.PlatformName) != "Debian GNU/Linux" ||
		aws.ToString(info.AgentVersion) != DefaultAgentVersion || aws.ToString(info.Name) != "onprem-debian" ||
		info.LastPingDateTime == nil || aws.ToString(info.IPAddress) != "192.168.10.20" {
		t.Errorf("managed node information = %+v", info)
	}

	var badKey *ssmtypes.InvalidFilterKey
	if _, err := c.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{Filters: []ssmtypes.InstanceInformationStringFilter{
		{Key: aws.String("Colour"), Values: []string{"blue"}}}}); !errors.As(err, &badKey) {
		t.Errorf("unknown filter key: %v, want InvalidFilterKey", err)
	}
	var badID *ssmtypes.InvalidInstanceId
	if _, err := c.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{InstanceInformationFilterList: []ssmtypes.InstanceInformationFilter{
		{Key: ssmtypes.InstanceInformationFilterKeyInstanceIds, ValueSet: []string{"web01"}}}}); !errors.As(err, &badID) {
		t.Errorf("malformed instance id: %v, want InvalidInstanceId", err)
	}
	var validation *ssmtypes.ValidationException
	if _, err := c.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{MaxResults: aws.Int32(2)}); !errors.As(err, &validation) {
		t.Errorf("MaxResults 2: %v, want ValidationException", err)
	}
}

func TestGetDocument(t *testing.T) {
	_, cfg := startServer(t, Options{KMSKeyID: DefaultKMSKeyID, RunAsEnabled: true, RunAsDefaultUser: "admin"})
	c := ssm.NewFromConfig(cfg)
	types := map[string]string{
		DocStartSSHSession:            "Port",
		DocPortForwarding:             "Port",
		DocPortForwardingToRemoteHost: "Port",
		DocRunShell:                   "Standard_Stream",
		DocStartInteractiveCommand:    "InteractiveCommands",
		DocStartNonInteractiveCommand: "NonInteractiveCommands",
	}
	for name, sessionType := range types {
		out, err := c.GetDocument(t.Context(), &ssm.GetDocumentInput{Name: aws.String(name)})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var doc struct {
			SchemaVersion string         `json:"schemaVersion"`
			Description   string         `json:"description"`
			SessionType   string         `json:"sessionType"`
			Inputs        map[string]any `json:"inputs"`
		}
		if err := json.Unmarshal([]byte(aws.ToString(out.Content)), &doc); err != nil {
			t.Fatalf("%s: content: %v", name, err)
		}
		if doc.SchemaVersion != "1.0" || doc.SessionType != sessionType || doc.Description == "" ||
			out.DocumentType != ssmtypes.DocumentTypeSession || out.DocumentFormat != ssmtypes.DocumentFormatJson ||
			aws.ToString(out.Name) != name || out.Status != ssmtypes.DocumentStatusActive {
			t.Errorf("%s: %+v, content %+v", name, out, doc)
		}
		if name == DocRunShell && (doc.Inputs["kmsKeyId"] != DefaultKMSKeyID || doc.Inputs["runAsDefaultUser"] != "admin" ||
			doc.Inputs["idleSessionTimeout"] != "20") {
			t.Errorf("preferences = %v", doc.Inputs)
		}
	}
	var invalid *ssmtypes.InvalidDocument
	if _, err := c.GetDocument(t.Context(), &ssm.GetDocumentInput{Name: aws.String("AWS-Nope")}); !errors.As(err, &invalid) ||
		aws.ToString(invalid.Message) != "Document with name AWS-Nope does not exist." {
		t.Errorf("unknown document: %v", err)
	}
}
