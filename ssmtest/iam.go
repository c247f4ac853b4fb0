package ssmtest

import (
	"encoding/xml"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
)

// The IAM operations (query protocol, Version 2010-05-08, signing name
// iam): what a session checker reads about the caller: policy simulation
// and principal tags.
//
// IAM principals are known to the emulator without being declared: the
// caller (Options.CallerARN, an assumed-role ARN standing for its role)
// and the built-in agents' instance role (InstanceRoleName). The fleet's
// Principals give any of them, or further users and roles, tags (such as
// SSMSessionRunAs, which StartSession hands the agent as the Run As user)
// and actions their policies do not allow. A denied action fails the
// principal's API calls with AccessDenied, as Faults.APIAccessDenied does
// for every caller, and SimulatePrincipalPolicy reports it as
// implicitDeny; the fault set's denials (APIAccessDenied,
// KMSDenyGenerateDataKey, KMSDenyDecrypt) are simulated the same way.
func (s *Server) iamQueryOps() map[string]queryOp {
	return map[string]queryOp{
		"SimulatePrincipalPolicy": s.iamSimulatePrincipalPolicy,
		"ListUserTags":            s.iamListUserTags,
		"ListRoleTags":            s.iamListRoleTags,
	}
}

const iamNamespace = "https://iam.amazonaws.com/doc/2010-05-08/"

// TagRunAs is the principal tag naming the OS user sessions run as when
// Run As is on in the session preferences.
const TagRunAs = "SSMSessionRunAs"

// Principal is an IAM user or role of the emulated account.
type Principal struct {
	// ARN is the IAM ARN: arn:aws:iam::<account>:user/<name> or
	// arn:aws:iam::<account>:role/<name> (a path may precede the name).
	ARN string `json:"Arn"`
	// Tags are the principal's tags (SSMSessionRunAs, say).
	Tags map[string]string `json:"Tags,omitempty"`
	// DeniedActions are IAM actions ("ssm:StartSession", "kms:*") the
	// principal's policies do not allow.
	DeniedActions []string `json:"DeniedActions,omitempty"`
}

func (p Principal) clone() Principal {
	p.Tags = maps.Clone(p.Tags)
	p.DeniedActions = slices.Clone(p.DeniedActions)
	return p
}

// denies reports whether the principal may not perform action; "svc:*"
// denies every action of the service.
func (p Principal) denies(action string) bool {
	svc, _, _ := strings.Cut(action, ":")
	for _, d := range p.DeniedActions {
		if strings.EqualFold(d, action) || d == svc+":*" || d == "*" {
			return true
		}
	}
	return false
}

// principalKind returns "user" or "role" and the name of an IAM ARN.
func principalKind(arn string) (kind, name string, ok bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" {
		return "", "", false
	}
	kind, rest, found := strings.Cut(parts[5], "/")
	if !found || (kind != "user" && kind != "role") || rest == "" {
		return "", "", false
	}
	return kind, rest[strings.LastIndex(rest, "/")+1:], true
}

func checkPrincipal(p Principal) error {
	if _, _, ok := principalKind(p.ARN); !ok {
		return fmt.Errorf("ssmtest: fleet: principal %q is not an IAM user or role ARN", p.ARN)
	}
	for _, a := range p.DeniedActions {
		if a != "*" && !strings.Contains(a, ":") {
			return fmt.Errorf("ssmtest: fleet: principal %s: denied action %q is not service:action", p.ARN, a)
		}
	}
	return nil
}

// SetPrincipal adds or replaces (by ARN) an IAM principal.
func (f *Fleet) SetPrincipal(p Principal) error {
	if err := checkPrincipal(p); err != nil {
		return err
	}
	p = p.clone()
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.principals {
		if f.principals[i].ARN == p.ARN {
			f.principals[i] = p
			return nil
		}
	}
	f.principals = append(f.principals, p)
	return nil
}

// Principals returns copies of the fleet's declared IAM principals.
func (f *Fleet) Principals() []Principal {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]Principal, 0, len(f.principals))
	for _, p := range f.principals {
		out = append(out, p.clone())
	}
	return out
}

func (f *Fleet) principal(arn string) (Principal, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for _, p := range f.principals {
		if p.ARN == arn {
			return p.clone(), true
		}
	}
	return Principal{}, false
}

// IAMPrincipalARN is the IAM identity behind a caller ARN: an STS
// assumed-role session (arn:aws:sts::A:assumed-role/R/S) stands for its
// role (arn:aws:iam::A:role/R); IAM ARNs are returned unchanged.
func IAMPrincipalARN(caller string) string {
	parts := strings.SplitN(caller, ":", 6)
	if len(parts) == 6 && parts[2] == "sts" {
		if rest, ok := strings.CutPrefix(parts[5], "assumed-role/"); ok {
			role, _, _ := strings.Cut(rest, "/")
			return fmt.Sprintf("arn:aws:iam::%s:role/%s", parts[4], role)
		}
	}
	return caller
}

// lookupPrincipal finds an IAM principal by ARN among the fleet's and the
// implicit ones (the caller, the instance role).
func (s *Server) lookupPrincipal(arn string) (Principal, bool) {
	if p, ok := s.fleet.principal(arn); ok {
		return p, true
	}
	if arn == IAMPrincipalARN(s.callerARN) || arn == s.instanceRoleARN() {
		return Principal{ARN: arn}, true
	}
	return Principal{}, false
}

func (s *Server) principalNamed(kind, name string) (Principal, bool) {
	for _, arn := range []string{IAMPrincipalARN(s.callerARN), s.instanceRoleARN()} {
		if k, n, _ := principalKind(arn); k == kind && n == name {
			return s.lookupPrincipal(arn)
		}
	}
	for _, p := range s.fleet.Principals() {
		if k, n, _ := principalKind(p.ARN); k == kind && n == name {
			return p, true
		}
	}
	return Principal{}, false
}

func (s *Server) instanceRoleARN() string {
	return fmt.Sprintf("arn:aws:iam::%s:role/%s", s.account, InstanceRoleName)
}

// principalTag is a tag of the caller's IAM principal.
func (s *Server) principalTag(caller, key string) string {
	p, _ := s.fleet.principal(IAMPrincipalARN(caller))
	return p.Tags[key]
}

// denied reports whether the call's caller may not perform action: a
// fault denies it to everyone, or the caller's principal lacks it.
func (c *call) denied(action string) bool {
	if c.faults.denied(action) {
		return true
	}
	p, _ := c.s.fleet.principal(IAMPrincipalARN(c.caller))
	return p.denies(action)
}

// simulatedDenial reports whether SimulatePrincipalPolicy finds action
// denied to the principal.
func (s *Server) simulatedDenial(c *call, p Principal, action string) bool {
	switch {
	case p.denies(action), c.faults.denied(action):
		return true
	case strings.EqualFold(action, "kms:GenerateDataKey"):
		return c.faults.KMSDenyGenerateDataKey
	case strings.EqualFold(action, "kms:Decrypt"):
		return c.faults.KMSDenyDecrypt
	}
	return false
}

// iamDenied is IAM's answer to a caller lacking c's action on resource.
func (c *call) iamDenied(resource string) error {
	if !c.denied(c.iamAction()) {
		return nil
	}
	return &APIError{Code: "AccessDenied", StatusCode: http.StatusForbidden, Message: fmt.Sprintf(
		"User: %s is not authorized to perform: %s on resource: %s because no identity-based policy allows the %s action",
		c.caller, c.iamAction(), resource, c.iamAction())}
}

type iamEvaluationResult struct {
	EvalActionName       string   `xml:"EvalActionName"`
	EvalResourceName     string   `xml:"EvalResourceName"`
	EvalDecision         string   `xml:"EvalDecision"`
	MatchedStatements    []string `xml:"MatchedStatements>member"`
	MissingContextValues []string `xml:"MissingContextValues>member"`
}

type simulatePrincipalPolicyResponse struct {
	XMLName xml.Name `xml:"SimulatePrincipalPolicyResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		IsTruncated       bool                  `xml:"IsTruncated"`
		EvaluationResults []iamEvaluationResult `xml:"EvaluationResults>member"`
	} `xml:"SimulatePrincipalPolicyResult"`
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

func (s *Server) iamSimulatePrincipalPolicy(c *call, form queryForm) (any, error) {
	source := form.Get("PolicySourceArn")
	if err := c.iamDenied(source); err != nil {
		return nil, err
	}
	if source == "" {
		return nil, validationErr("null", "policySourceArn", "Member must not be null")
	}
	actions := form.list("ActionNames.member")
	if len(actions) == 0 {
		return nil, validationErr("[]", "actionNames", "Member must have length greater than or equal to 1")
	}
	resources := form.list("ResourceArns.member")
	if len(resources) == 0 {
		resources = []string{"*"}
	}
	kind, name, ok := principalKind(source)
	if !ok {
		return nil, apiErr("InvalidInput", "Invalid ARN %s: the policy source must be an IAM user, group or role.", source)
	}
	p, ok := s.lookupPrincipal(source)
	if !ok {
		return nil, &APIError{Code: "NoSuchEntity", StatusCode: http.StatusNotFound,
			Message: fmt.Sprintf("The %s with name %s cannot be found.", kind, name)}
	}
	out := simulatePrincipalPolicyResponse{Xmlns: iamNamespace, RequestID: c.requestID}
	for _, a := range actions {
		for _, r := range resources {
			res := iamEvaluationResult{EvalActionName: a, EvalResourceName: r, EvalDecision: "allowed",
				MatchedStatements: []string{}, MissingContextValues: []string{}}
			if s.simulatedDenial(c, p, a) {
				res.EvalDecision = "implicitDeny"
			}
			out.Result.EvaluationResults = append(out.Result.EvaluationResults, res)
		}
	}
	return out, nil
}

type iamTag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

type listTagsResponse struct {
	XMLName xml.Name
	Xmlns   string `xml:"xmlns,attr"`
	Result  struct {
		XMLName     xml.Name
		Tags        []iamTag `xml:"Tags>member"`
		IsTruncated bool     `xml:"IsTruncated"`
	}
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

func (s *Server) iamListUserTags(c *call, form queryForm) (any, error) {
	return s.iamListTags(c, "user", form.Get("UserName"))
}

func (s *Server) iamListRoleTags(c *call, form queryForm) (any, error) {
	return s.iamListTags(c, "role", form.Get("RoleName"))
}

func (s *Server) iamListTags(c *call, kind, name string) (any, error) {
	if err := c.iamDenied(fmt.Sprintf("%s %s", kind, name)); err != nil {
		return nil, err
	}
	if name == "" {
		return nil, validationErr("null", kind+"Name", "Member must not be null")
	}
	p, ok := s.principalNamed(kind, name)
	if !ok {
		return nil, &APIError{Code: "NoSuchEntity", StatusCode: http.StatusNotFound,
			Message: fmt.Sprintf("The %s with name %s cannot be found.", kind, name)}
	}
	op := "ListUserTags"
	if kind == "role" {
		op = "ListRoleTags"
	}
	var out listTagsResponse
	out.XMLName.Local, out.Result.XMLName.Local = op+"Response", op+"Result"
	out.Xmlns, out.RequestID = iamNamespace, c.requestID
	out.Result.Tags = []iamTag{}
	for _, k := range slices.Sorted(maps.Keys(p.Tags)) {
		out.Result.Tags = append(out.Result.Tags, iamTag{k, p.Tags[k]})
	}
	return out, nil
}
