package ssmtest

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The SSM operations (JSON 1.1, target prefix AmazonSSM).
func (s *Server) ssmOps() map[string]jsonOp {
	return map[string]jsonOp{
		"AmazonSSM.StartSession":                op(s.ssmStartSession),
		"AmazonSSM.ResumeSession":               op(s.ssmResumeSession),
		"AmazonSSM.TerminateSession":            op(s.ssmTerminateSession),
		"AmazonSSM.DescribeSessions":            op(s.ssmDescribeSessions),
		"AmazonSSM.DescribeInstanceInformation": op(s.ssmDescribeInstanceInformation),
		"AmazonSSM.GetDocument":                 op(s.ssmGetDocument),
	}
}

// targetARN is the IAM resource of a StartSession target.
func (s *Server) targetARN(id string) string {
	if strings.HasPrefix(id, "mi-") {
		return fmt.Sprintf("arn:aws:ssm:%s:%s:managed-instance/%s", s.region, s.account, id)
	}
	return fmt.Sprintf("arn:aws:ec2:%s:%s:instance/%s", s.region, s.account, id)
}

func (s *Server) sessionARN(id string) string {
	return fmt.Sprintf("arn:aws:ssm:%s:%s:session/%s", s.region, s.account, id)
}

// streamURL is where a session's client opens its data channel
// (presigned with Options.PresignStreamURLs).
func (s *Server) streamURL(sessionID string) string {
	var cell [18]byte
	_, _ = rand.Read(cell[:])
	u := fmt.Sprintf("wss://%s/v1/data-channel/%s?role=publish_subscribe&cell-number=%s",
		s.host, url.PathEscape(sessionID), base64.RawURLEncoding.EncodeToString(cell[:]))
	if s.opts.PresignStreamURLs {
		u = s.presign(u)
	}
	return u
}

type startSessionInput struct {
	Target       string
	DocumentName string
	Parameters   map[string][]string
	Reason       string
}

type startSessionOutput struct {
	SessionID  string `json:"SessionId"`
	TokenValue string `json:"TokenValue"`
	StreamURL  string `json:"StreamUrl"`
}

const reasonPattern = "^.{1,256}$"

func (s *Server) ssmStartSession(c *call, in *startSessionInput) (any, error) {
	if err := c.checkDenied(s.targetARN(in.Target)); err != nil {
		return nil, err
	}
	if in.Target == "" || len(in.Target) > 400 {
		return nil, validationErr(in.Target, "target", "Member must have length between 1 and 400")
	}
	if in.Reason != "" && (len([]rune(in.Reason)) > 256 || strings.ContainsAny(in.Reason, "\r\n")) {
		return nil, validationErr(in.Reason, "reason", "Member must satisfy regular expression pattern: "+reasonPattern)
	}
	doc, err := s.ResolveDocument(in.DocumentName, in.Parameters)
	if err != nil {
		return nil, err
	}
	inst, ok := s.fleet.Instance(in.Target)
	if !ok || inst.State != StateRunning || inst.PingStatus != PingOnline || inst.Unmanaged || c.faults.AgentOffline[in.Target] || s.faultsSet.takeStartRefusal() {
		return nil, errTargetNotConnected(in.Target)
	}
	sess := &Session{
		Target:          in.Target,
		DocumentName:    doc.Name,
		SessionType:     doc.SessionType,
		DocumentContent: doc.Content,
		Parameters:      doc.Parameters,
		Properties:      doc.Properties,
		Owner:           s.callerARN,
		Reason:          in.Reason,
		KMSKeyID:        s.opts.KMSKeyID,
	}
	if s.opts.RunAsEnabled {
		// The principal's SSMSessionRunAs tag wins over the preferences'
		// default user; the service sends it to the agent as the RunAs user.
		sess.RunAsUser = s.opts.RunAsDefaultUser
		if tag := s.principalTag(c.caller, TagRunAs); tag != "" {
			sess.RunAsUser = tag
		}
	}
	tok, err := s.sessions.start(sess, s.userName)
	if err != nil {
		return nil, err
	}
	s.logf("ssmtest: session %s started: %s on %s", sess.ID, sess.DocumentName, sess.Target)
	return startSessionOutput{SessionID: sess.ID, TokenValue: tok, StreamURL: s.streamURL(sess.ID)}, nil
}

type sessionIDInput struct {
	SessionID string `json:"SessionId"`
}

func (s *Server) ssmResumeSession(c *call, in *sessionIDInput) (any, error) {
	if err := c.checkDenied(s.sessionARN(in.SessionID)); err != nil {
		return nil, err
	}
	sess, tok, err := s.sessions.resume(in.SessionID)
	if sess == nil {
		return nil, apiErr("DoesNotExistException", "Session with Id %s does not exist.", in.SessionID)
	}
	if err != nil {
		return nil, apiErr("DoesNotExistException", "Session with Id %s is %s and cannot be resumed.", in.SessionID, sess.State())
	}
	return startSessionOutput{SessionID: sess.ID, TokenValue: tok, StreamURL: s.streamURL(sess.ID)}, nil
}

func (s *Server) ssmTerminateSession(c *call, in *sessionIDInput) (any, error) {
	if err := c.checkDenied(s.sessionARN(in.SessionID)); err != nil {
		return nil, err
	}
	if err := s.sessions.Terminate(in.SessionID, ReasonTerminated); err != nil {
		return nil, apiErr("DoesNotExistException", "Session with Id %s does not exist.", in.SessionID)
	}
	return sessionIDInput{SessionID: in.SessionID}, nil
}

type describeSessionsInput struct {
	State      string
	Filters    []describeFilter
	MaxResults int
	NextToken  string
}

type sessionJSON struct {
	SessionID          string     `json:"SessionId"`
	Target             string     `json:"Target"`
	Status             string     `json:"Status"`
	StartDate          *epochTime `json:"StartDate,omitempty"`
	EndDate            *epochTime `json:"EndDate,omitempty"`
	DocumentName       string     `json:"DocumentName"`
	Owner              string     `json:"Owner"`
	Reason             string     `json:"Reason,omitempty"`
	Details            string     `json:"Details,omitempty"`
	MaxSessionDuration string     `json:"MaxSessionDuration,omitempty"`
	AccessType         string     `json:"AccessType"`
	OutputURL          struct{}   `json:"OutputUrl"`
}

func (s *Server) ssmDescribeSessions(c *call, in *describeSessionsInput) (any, error) {
	if err := c.checkDenied("*"); err != nil {
		return nil, err
	}
	list, err := s.sessions.describe(in.State, in.Filters)
	if err != nil {
		return nil, err
	}
	page, next, err := paginate(list, in.MaxResults, in.NextToken, 1, 200, 20)
	if err != nil {
		return nil, err
	}
	out := struct {
		Sessions  []sessionJSON `json:"Sessions"`
		NextToken string        `json:"NextToken,omitempty"`
	}{Sessions: []sessionJSON{}, NextToken: next}
	for _, sess := range page {
		j := sessionJSON{
			SessionID: sess.ID, Target: sess.Target, Status: string(sess.State()),
			StartDate: epoch(sess.StartDate), EndDate: epoch(sess.EndDate()),
			DocumentName: sess.DocumentName, Owner: sess.Owner, Reason: sess.Reason,
			Details: sess.Output(), AccessType: "Standard",
		}
		if sess.MaxDuration > 0 {
			j.MaxSessionDuration = strconv.Itoa(int(sess.MaxDuration / time.Minute))
		}
		out.Sessions = append(out.Sessions, j)
	}
	return out, nil
}

// paginate cuts one page from items. Tokens are opaque to callers; a token
// that is not one of ours is InvalidNextToken, a page size outside
// [lo, hi] a ValidationException.
func paginate[T any](items []T, maxResults int, token string, lo, hi, def int) ([]T, string, error) {
	if maxResults == 0 {
		maxResults = def
	}
	if maxResults < lo || maxResults > hi {
		return nil, "", validationErr(strconv.Itoa(maxResults), "maxResults",
			fmt.Sprintf("Member must have value between %d and %d", lo, hi))
	}
	start := 0
	if token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(token)
		n, ok := strings.CutPrefix(string(raw), "ssmtest-page:")
		if err == nil && ok {
			start, err = strconv.Atoi(n)
		}
		if err != nil || !ok || start < 0 || start > len(items) {
			return nil, "", apiErr("InvalidNextToken", "The specified token isn't valid.")
		}
	}
	end := min(start+maxResults, len(items))
	next := ""
	if end < len(items) {
		next = base64.RawURLEncoding.EncodeToString([]byte("ssmtest-page:" + strconv.Itoa(end)))
	}
	return items[start:end], next, nil
}

type describeInstanceInformationInput struct {
	InstanceInformationFilterList []struct {
		Key      string   `json:"key"`
		ValueSet []string `json:"valueSet"`
	}
	Filters []struct {
		Key    string
		Values []string
	}
	MaxResults int
	NextToken  string
}

type instanceInformationJSON struct {
	InstanceID       string     `json:"InstanceId"`
	PingStatus       string     `json:"PingStatus"`
	LastPingDateTime *epochTime `json:"LastPingDateTime,omitempty"`
	AgentVersion     string     `json:"AgentVersion"`
	IsLatestVersion  bool       `json:"IsLatestVersion"`
	PlatformType     string     `json:"PlatformType"`
	PlatformName     string     `json:"PlatformName,omitempty"`
	PlatformVersion  string     `json:"PlatformVersion,omitempty"`
	ResourceType     string     `json:"ResourceType"`
	IPAddress        string     `json:"IPAddress,omitempty"`
	ComputerName     string     `json:"ComputerName,omitempty"`
	Name             string     `json:"Name,omitempty"`
	RegistrationDate *epochTime `json:"RegistrationDate,omitempty"`
	SourceID         string     `json:"SourceId"`
	SourceType       string     `json:"SourceType"`
}

var instanceInfoKeys = []string{"InstanceIds", "AgentVersion", "PingStatus", "PlatformTypes", "ActivationIds", "IamRole", "ResourceType", "AssociationStatus"}

func (s *Server) ssmDescribeInstanceInformation(c *call, in *describeInstanceInformationInput) (any, error) {
	if err := c.checkDenied("*"); err != nil {
		return nil, err
	}
	type filter struct {
		key    string
		values []string
	}
	var filters []filter
	for _, f := range in.InstanceInformationFilterList {
		if !slices.Contains(instanceInfoKeys, f.Key) {
			return nil, apiErr("InvalidInstanceInformationFilterValue", "The filter key %s is not valid.", f.Key)
		}
		filters = append(filters, filter{f.Key, f.ValueSet})
	}
	for _, f := range in.Filters {
		if !slices.Contains(instanceInfoKeys, f.Key) && f.Key != "tag-key" && !strings.HasPrefix(f.Key, "tag:") {
			return nil, apiErr("InvalidFilterKey", "The filter key %s is not valid.", f.Key)
		}
		filters = append(filters, filter{f.Key, f.Values})
	}
	for _, f := range filters {
		if len(f.values) == 0 {
			return nil, apiErr("InvalidInstanceInformationFilterValue", "The filter %s needs at least one value.", f.key)
		}
		for _, v := range f.values {
			switch {
			case f.key == "InstanceIds" && !ec2IDPattern.MatchString(v) && !managedIDPattern.MatchString(v):
				return nil, apiErr("InvalidInstanceId", "Instance Id %s is not valid.", v)
			case f.key == "PingStatus" && !slices.Contains(pingStatuses, v):
				return nil, apiErr("InvalidInstanceInformationFilterValue", "The filter value %s is not valid for PingStatus.", v)
			}
		}
	}
	var list []instanceInformationJSON
	for _, inst := range s.fleet.Instances() {
		if inst.Unmanaged {
			continue
		}
		info := s.instanceInformation(&inst, c.now)
		ok := true
		for _, f := range filters {
			ok = ok && instanceInfoMatches(&inst, &info, f.key, f.values)
		}
		if ok {
			list = append(list, info)
		}
	}
	page, next, err := paginate(list, in.MaxResults, in.NextToken, 5, 50, 50)
	if err != nil {
		return nil, err
	}
	return struct {
		InstanceInformationList []instanceInformationJSON
		NextToken               string `json:",omitempty"`
	}{append([]instanceInformationJSON{}, page...), next}, nil
}

func (s *Server) instanceInformation(inst *Instance, now time.Time) instanceInformationJSON {
	ping, version, platform, last := s.agentStatus(inst, now)
	info := instanceInformationJSON{
		InstanceID: inst.InstanceID, PingStatus: ping, AgentVersion: version,
		IsLatestVersion: version == DefaultAgentVersion,
		PlatformType:    platform, PlatformName: inst.PlatformName, PlatformVersion: inst.PlatformVersion,
		IPAddress: inst.PrivateIP, ComputerName: inst.PrivateDNSName,
		ResourceType: "EC2Instance", SourceID: inst.InstanceID, SourceType: "AWS::EC2::Instance",
	}
	if !last.IsZero() {
		info.LastPingDateTime = epoch(last.Truncate(time.Second))
	}
	if inst.IsManagedNode() {
		info.ResourceType, info.SourceType = "ManagedInstance", "AWS::SSM::ManagedInstance"
		info.Name = inst.Name
		info.RegistrationDate = epoch(inst.LaunchTime)
	}
	return info
}

func instanceInfoMatches(inst *Instance, info *instanceInformationJSON, key string, values []string) bool {
	switch key {
	case "InstanceIds":
		return slices.Contains(values, inst.InstanceID)
	case "AgentVersion":
		return slices.Contains(values, info.AgentVersion)
	case "PingStatus":
		return slices.Contains(values, info.PingStatus)
	case "PlatformTypes":
		return slices.Contains(values, info.PlatformType)
	case "ResourceType":
		return slices.Contains(values, info.ResourceType)
	case "AssociationStatus", "ActivationIds", "IamRole":
		return false // the emulator has no associations, activations or roles
	case "tag-key":
		return slices.ContainsFunc(values, func(k string) bool { return hasTag(inst, k) })
	}
	k, _ := strings.CutPrefix(key, "tag:")
	v, ok := tagValue(inst, k)
	return ok && slices.Contains(values, v)
}

func hasTag(inst *Instance, key string) bool {
	_, ok := tagValue(inst, key)
	return ok
}

func tagValue(inst *Instance, key string) (string, bool) {
	if key == "Name" {
		return inst.Name, inst.Name != ""
	}
	v, ok := inst.Tags[key]
	return v, ok
}

type getDocumentInput struct {
	Name            string
	DocumentVersion string
	VersionName     string
	DocumentFormat  string
}

func (s *Server) ssmGetDocument(c *call, in *getDocumentInput) (any, error) {
	docARN := fmt.Sprintf("arn:aws:ssm:%s::document/%s", s.region, in.Name)
	if err := c.checkDenied(docARN); err != nil {
		return nil, err
	}
	content, ok := s.documentContent(in.Name)
	if !ok {
		return nil, apiErr("InvalidDocument", "Document with name %s does not exist.", in.Name)
	}
	switch in.DocumentVersion {
	case "", "1", "$LATEST", "$DEFAULT":
	default:
		return nil, apiErr("InvalidDocumentVersion", "Document version %s does not exist for document %s.", in.DocumentVersion, in.Name)
	}
	if in.VersionName != "" {
		return nil, apiErr("InvalidDocument", "Document with name %s and version name %s does not exist.", in.Name, in.VersionName)
	}
	if in.DocumentFormat != "" && in.DocumentFormat != "JSON" {
		return nil, validationErr(in.DocumentFormat, "documentFormat", "the ssmtest emulator serves documents as JSON only")
	}
	created, _ := time.Parse(time.RFC3339, documentCreated)
	return struct {
		Name            string
		CreatedDate     *epochTime
		DocumentVersion string
		Status          string
		Content         string
		DocumentType    string
		DocumentFormat  string
	}{in.Name, epoch(created), "1", "Active", content, "Session", "JSON"}, nil
}
