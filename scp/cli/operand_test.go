package cli

import "testing"

func TestParseOperand(t *testing.T) {
	for _, tc := range []struct{ arg, host, path string }{
		{"file", "", "file"},
		{"./a:b", "", "./a:b"},
		{"/abs/x:y", "", "/abs/x:y"},
		{":colon", "", ":colon"},
		{"host:path", "host", "path"},
		{"host:", "host", ""},
		{"ec2-user@i-0123:~/x y", "ec2-user@i-0123", "~/x y"},
		{"u@web.ssm:/a:b", "u@web.ssm", "/a:b"},
		{"[::1]:p", "::1", "p"},
		{"u@[fe80::1]:p", "u@fe80::1", "p"},
		{"a/b:c", "", "a/b:c"},
	} {
		o := parseOperand(tc.arg)
		if o.host != tc.host || o.path != tc.path || o.remote() != (tc.host != "") {
			t.Errorf("parseOperand(%q) = host %q path %q remote %v; want %q %q", tc.arg, o.host, o.path, o.remote(), tc.host, tc.path)
		}
	}
}
