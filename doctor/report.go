package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Status is the outcome of one check.
type Status int

// The outcomes. Pass and Skip count as success; Fail and Unknown make
// the report fail (exit status 1).
const (
	// Pass: the check found nothing wrong.
	Pass Status = iota
	// Fail: the check found a cause that stops sessions; Fix says what
	// to do.
	Fail
	// Unknown: the check could not tell (not allowed to ask, or an
	// earlier check failed); Fix says what would tell.
	Unknown
	// Skip: the check does not apply to this target or document.
	Skip
)

// Symbol is the mark the text report shows: ✓, ✗, ? or -.
func (s Status) Symbol() string {
	switch s {
	case Pass:
		return "✓"
	case Fail:
		return "✗"
	case Unknown:
		return "?"
	}
	return "-"
}

func (s Status) String() string {
	switch s {
	case Pass:
		return "pass"
	case Fail:
		return "fail"
	case Unknown:
		return "unknown"
	}
	return "skip"
}

// MarshalText writes the status as pass, fail, unknown or skip.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Check names, in the order Run performs them.
const (
	CheckCredentials = "credentials"
	CheckTarget      = "target"
	CheckEC2         = "ec2"
	CheckManaged     = "managed"
	CheckIAM         = "iam"
	CheckPreferences = "preferences"
	CheckSession     = "session"
	CheckSSH         = "ssh"
)

// titles are the checks' names in the text report.
var titles = map[string]string{
	CheckCredentials: "credentials",
	CheckTarget:      "target",
	CheckEC2:         "EC2 state",
	CheckManaged:     "managed by SSM",
	CheckIAM:         "IAM permissions",
	CheckPreferences: "session preferences",
	CheckSession:     "session start",
	CheckSSH:         "SSH",
}

// Result is the outcome of one check.
type Result struct {
	// Check is one of the Check constants.
	Check  string `json:"check"`
	Status Status `json:"status"`
	// Evidence is what the check saw: the API's answer, a version, an
	// ARN, the agent's text.
	Evidence string `json:"evidence"`
	// Fix is, for Fail, the remedy in one sentence; for Unknown, what
	// would settle the question.
	Fix string `json:"fix,omitempty"`
}

// Report is the outcome of every check, in order.
type Report struct {
	// Target is the target as the user named it; TargetID is what it
	// resolved to ("" when it did not).
	Target   string   `json:"target"`
	TargetID string   `json:"targetId,omitempty"`
	Results  []Result `json:"checks"`
	OK       bool     `json:"ok"`
}

// Result returns the result of a check.
func (r *Report) Result(check string) (Result, bool) {
	for _, res := range r.Results {
		if res.Check == check {
			return res, true
		}
	}
	return Result{}, false
}

// Failed returns the first failed check.
func (r *Report) Failed() (Result, bool) {
	for _, res := range r.Results {
		if res.Status == Fail {
			return res, true
		}
	}
	return Result{}, false
}

// WriteText writes one line per check, "✓ title: evidence", followed for
// a failed or unknown check by an indented "fix: …" line.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	for _, res := range r.Results {
		fmt.Fprintf(&b, "%s %s: %s\n", res.Status.Symbol(), titles[res.Check], oneLine(res.Evidence))
		if res.Fix != "" && (res.Status == Fail || res.Status == Unknown) {
			fmt.Fprintf(&b, "    fix: %s\n", oneLine(res.Fix))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the report as one JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
