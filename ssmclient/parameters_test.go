package ssmclient

import (
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestParseParameters(t *testing.T) {
	tests := []struct {
		in   string
		want map[string][]string
	}{
		{"", map[string][]string{}},
		{"  ", map[string][]string{}},
		{"portNumber=80", map[string][]string{"portNumber": {"80"}}},
		{"portNumber=80,localPortNumber=56789", map[string][]string{"portNumber": {"80"}, "localPortNumber": {"56789"}}},
		{"command=echo hey,separateOutputStream=true", map[string][]string{"command": {"echo hey"}, "separateOutputStream": {"true"}}},
		{"portNumber=80,81", map[string][]string{"portNumber": {"80", "81"}}},
		{"a=1,2, b = 3", map[string][]string{"a": {"1", "2"}, "b": {"3"}}},
		{"hosts=[a,b],x=", map[string][]string{"hosts": {"a", "b"}, "x": {""}}},
		{`command="ls -l, then more",y='it''s'`, nil},
		{`command="ls -l, then more"`, map[string][]string{"command": {"ls -l, then more"}}},
		{`command='say \'hi\''`, map[string][]string{"command": {"say 'hi'"}}},
		{`command=a\,b`, map[string][]string{"command": {"a,b"}}},
		{`command=x=y`, map[string][]string{"command": {"x=y"}}},
		{`{"command":["uname -a"],"separateOutputStream":["true"]}`, map[string][]string{"command": {"uname -a"}, "separateOutputStream": {"true"}}},
		{` {"portNumber":"22"} `, map[string][]string{"portNumber": {"22"}}},
		{`{"a":[]}`, map[string][]string{"a": {}}},
		{"a=1,a=2", nil},     // given twice, an error as in the AWS CLI
		{"a=1,b=2,a=3", nil}, // likewise
		{`{"a":["1"],"a":["2"]}`, map[string][]string{"a": {"2"}}}, // JSON: the last wins, as in the AWS CLI
		{"=1", nil},         // no name
		{"a", nil},          // no =
		{"a=[1,2", nil},     // unclosed list
		{`a="x`, nil},       // unclosed quote
		{`{"a":[1]}`, nil},  // not strings
		{`{"a":["x"]`, nil}, // bad JSON
		{"a b=1", nil},      // bad name
		{"a=1,,b=2", map[string][]string{"a": {"1", ""}, "b": {"2"}}},
	}
	for _, tt := range tests {
		got, err := ParseParameters(tt.in)
		if tt.want == nil {
			if err == nil {
				t.Errorf("%q: %v, want an error", tt.in, got)
			} else if !strings.HasPrefix(err.Error(), "ssmclient: parameters: ") {
				t.Errorf("%q: error %q lacks the prefix", tt.in, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	f := filepath.Join(t.TempDir(), "p.json")
	if err := os.WriteFile(f, []byte(`{"command":["df -h"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := ParseParameters("file://" + f); err != nil || !reflect.DeepEqual(got, map[string][]string{"command": {"df -h"}}) {
		t.Errorf("file://: %v, %v", got, err)
	}
	if _, err := ParseParameters("file://" + f + ".missing"); err == nil {
		t.Error("a missing file gave no error")
	}
}

// formatParameters writes m in the shorthand, every value quoted.
func formatParameters(m map[string][]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		var vals []string
		for _, v := range m[k] {
			vals = append(vals, `"`+strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v)+`"`)
		}
		parts = append(parts, k+"=["+strings.Join(vals, ",")+"]")
	}
	return strings.Join(parts, ",")
}

// FuzzParseParameters: no input panics, errors carry the prefix, and
// what parses comes back the same through the shorthand.
func FuzzParseParameters(f *testing.F) {
	for _, s := range []string{"portNumber=80,81,host=db", `command="a, b",x=[1,2]`, `{"a":["b"],"c":"d"}`,
		`a='x\'y',b=\,`, "a=1,,b=", "k=[", `{"a":[]}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.HasPrefix(s, "file://") {
			return
		}
		m, err := ParseParameters(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "ssmclient: parameters: ") {
				t.Fatalf("%q: error %q", s, err)
			}
			return
		}
		for k, v := range m {
			if v == nil {
				t.Fatalf("%q: %q has a nil list", s, k)
			}
		}
		if strings.HasPrefix(strings.TrimSpace(s), "{") {
			return // JSON keys may be anything
		}
		again, err := ParseParameters(formatParameters(m))
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("%q: %v came back as %v, %v (from %q)", s, m, again, err, formatParameters(m))
		}
	})
}
