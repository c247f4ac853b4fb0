package sftpshell

import (
	"errors"
	"path"
	"slices"
	"testing"
)

func TestSplitWords(t *testing.T) {
	for _, tc := range []struct {
		line string
		want []string
	}{
		{"", nil},
		{"  \t ", nil},
		{"ls", []string{"ls"}},
		{"  get  -pR a b  ", []string{"get", "-pR", "a", "b"}},
		{"put 'with space' \"and quote\"", []string{"put", "with space", "and quote"}},
		{`rm a\ b`, []string{"rm", "a b"}},
		{`rm *.txt`, []string{"rm", "*.txt"}},
		{`rm '*.txt'`, []string{"rm", `\*.txt`}},
		{`rm \*.txt`, []string{"rm", `\*.txt`}},
		{`rm "a[1]?"`, []string{"rm", `a\[1\]\?`}},
		{`rm "say \"hi\""`, []string{"rm", `say "hi"`}},
		{`rm "back\\slash"`, []string{"rm", `back\\slash`}},
		{`rm 'back\slash'`, []string{"rm", `back\\slash`}},
		{`rm "\n"`, []string{"rm", `\\n`}},
		{`rm it\'s ok`, []string{"rm", "it's", "ok"}},
		{`rm 'it'\''s'`, []string{"rm", "it's"}},
		{`rm ''`, []string{"rm", ""}},
		{`rm a'b c'd`, []string{"rm", "ab cd"}},
		{`rm end\`, []string{"rm", `end\\`}},
	} {
		got, err := splitWords(tc.line)
		if err != nil {
			t.Errorf("splitWords(%q): %v", tc.line, err)
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("splitWords(%q) = %q, want %q", tc.line, got, tc.want)
		}
	}
}

func TestSplitWordsUnterminated(t *testing.T) {
	for _, line := range []string{`rm 'a`, `rm "a`, `rm "a\"`} {
		if _, err := splitWords(line); !errors.Is(err, errUnterminated) {
			t.Errorf("splitWords(%q): err %v, want unterminated quote", line, err)
		}
	}
}

func TestLiteralAndGlob(t *testing.T) {
	for _, tc := range []struct {
		w, lit string
		glob   bool
	}{
		{"plain", "plain", false},
		{"*.txt", "*.txt", true},
		{`\*.txt`, "*.txt", false},
		{`a\\b`, `a\b`, false},
		{`a\\*`, `a\*`, true},
		{"[ab]", "[ab]", true},
	} {
		if got := literal(tc.w); got != tc.lit {
			t.Errorf("literal(%q) = %q, want %q", tc.w, got, tc.lit)
		}
		if got := hasGlob(tc.w); got != tc.glob {
			t.Errorf("hasGlob(%q) = %v, want %v", tc.w, got, tc.glob)
		}
	}
}

func TestParseFlags(t *testing.T) {
	flags, rest, err := parseFlags([]string{"-pR", "-r", "src", "-x"}, "pRr")
	if err != nil || flags != "pRr" || !slices.Equal(rest, []string{"src", "-x"}) {
		t.Errorf("got %q %q %v", flags, rest, err)
	}
	flags, rest, err = parseFlags([]string{"--", "-p"}, "p")
	if err != nil || flags != "" || !slices.Equal(rest, []string{"-p"}) {
		t.Errorf("after --: got %q %q %v", flags, rest, err)
	}
	if _, _, err := parseFlags([]string{"-pz"}, "p"); !errors.Is(err, ErrUsage) {
		t.Errorf("unknown flag: err %v, want ErrUsage", err)
	}
	// "-" alone is an argument (OpenSSH's stdin/stdout name), not a flag.
	if _, rest, _ := parseFlags([]string{"-"}, "p"); !slices.Equal(rest, []string{"-"}) {
		t.Errorf(`"-": rest %q`, rest)
	}
}

// FuzzQuote: any string quoted splits back into one word that means the
// string and matches only itself.
func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "a b", "it's", `"x"`, `a\b`, "*?[]", "#c", "-p", "ünï"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := splitWords("x " + Quote(s))
		if err != nil {
			t.Fatalf("Quote(%q) = %q: %v", s, Quote(s), err)
		}
		if len(words) != 2 || literal(words[1]) != s {
			t.Fatalf("Quote(%q) = %q splits into %q", s, Quote(s), words)
		}
		if hasGlob(words[1]) {
			t.Fatalf("Quote(%q) is a pattern", s)
		}
		if ok, err := path.Match(words[1], s); err == nil && !ok {
			t.Fatalf("pattern %q does not match %q", words[1], s)
		}
	})
}

// FuzzSplitWords: no line panics, and every word's literal form is
// recovered without error.
func FuzzSplitWords(f *testing.F) {
	for _, s := range []string{`get "a b" 'c'`, `rm \*`, `a"b\"c"d`, `'`, `\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		words, err := splitWords(line)
		if err != nil {
			return
		}
		for _, w := range words {
			_ = literal(w)
			_ = hasGlob(w)
		}
	})
}
