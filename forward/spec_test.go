package forward

import (
	"strings"
	"testing"
)

func TestParseLocal(t *testing.T) {
	for _, tc := range []struct {
		in     string
		want   Spec
		listen string
	}{
		{"8080:80", Spec{BindPort: 8080, Port: 80}, "127.0.0.1:8080"},
		{"0:22", Spec{BindPort: 0, Port: 22}, "127.0.0.1:0"},
		{"127.0.0.2:8080:80", Spec{BindAddress: "127.0.0.2", BindPort: 8080, Port: 80}, "127.0.0.2:8080"},
		{"localhost:8080:80", Spec{BindAddress: "localhost", BindPort: 8080, Port: 80}, "localhost:8080"},
		{"5432:db.internal:5432", Spec{BindPort: 5432, Host: "db.internal", Port: 5432}, "127.0.0.1:5432"},
		{"5432:10.0.2.7:5432", Spec{BindPort: 5432, Host: "10.0.2.7", Port: 5432}, "127.0.0.1:5432"},
		{"*:5432:db:5432", Spec{BindAddress: "*", BindPort: 5432, Host: "db", Port: 5432}, ":5432"},
		{":8080:80", Spec{BindAddress: "*", BindPort: 8080, Port: 80}, ":8080"},
		{"[::1]:8080:80", Spec{BindAddress: "::1", BindPort: 8080, Port: 80}, "[::1]:8080"},
		{"8080:[fd00::5]:443", Spec{BindPort: 8080, Host: "fd00::5", Port: 443}, "127.0.0.1:8080"},
		{"[::1]:8080:[fd00::5]:443", Spec{BindAddress: "::1", BindPort: 8080, Host: "fd00::5", Port: 443}, "[::1]:8080"},
		{"127.0.0.1/8080/db/5432", Spec{BindAddress: "127.0.0.1", BindPort: 8080, Host: "db", Port: 5432}, "127.0.0.1:8080"},
	} {
		got, err := ParseLocal(tc.in)
		if err != nil {
			t.Errorf("ParseLocal(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseLocal(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
		if l := got.ListenAddress(); l != tc.listen {
			t.Errorf("ParseLocal(%q).ListenAddress() = %q, want %q", tc.in, l, tc.listen)
		}
		if again, err := ParseLocal(got.String()); err != nil || again != got {
			t.Errorf("ParseLocal(%q) = %+v, %v; want %+v", got.String(), again, err, got)
		}
	}
}

func TestParseLocalErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "empty"},
		{"8080", "want [bind_address:]port:port"},
		{"a:b:c:d:e", "too many fields"},
		{"8080:0", "destination port: 0 is out of range"},
		{"8080:65536", "destination port: 65536 is out of range"},
		{"70000:80", "local port: 70000 is out of range"},
		{"x:80", `local port: "x" is not a port number`},
		{"8080:db:", "ends with a separator"},
		{"8080::80", "empty host"},
		{"h:8080::80", "empty host"},
		{"[::1:8080:80", "missing ]"},
		{"8080:[]:80", "empty []"},
		{"8080:[fd00::5]x:80", "] not followed"},
		{"8080:d[b:80", "brackets inside a field"},
		{"8080:[not-ip:v6]:80", "is not an IPv6 address"},
		{"8080:db\x00:80", "is not a host name"},
		{"8080:" + strings.Repeat("a", 254) + ":80", "longer than 253 bytes"},
		{"-1:80", "not a port number"},
		{"+80:80", "not a port number"},
	} {
		_, err := ParseLocal(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "forward: bad -L ") {
			t.Errorf("ParseLocal(%q) = %v, want an error with %q", tc.in, err, tc.want)
		}
	}
}

func TestParseDynamic(t *testing.T) {
	for _, tc := range []struct {
		in     string
		want   Spec
		listen string
	}{
		{"1080", Spec{Dynamic: true, BindPort: 1080}, "127.0.0.1:1080"},
		{"0", Spec{Dynamic: true}, "127.0.0.1:0"},
		{"127.0.0.2:1080", Spec{Dynamic: true, BindAddress: "127.0.0.2", BindPort: 1080}, "127.0.0.2:1080"},
		{"*:1080", Spec{Dynamic: true, BindAddress: "*", BindPort: 1080}, ":1080"},
		{"[::1]:1080", Spec{Dynamic: true, BindAddress: "::1", BindPort: 1080}, "[::1]:1080"},
	} {
		got, err := ParseDynamic(tc.in)
		if err != nil || got != tc.want || got.ListenAddress() != tc.listen {
			t.Errorf("ParseDynamic(%q) = %+v (%q), %v; want %+v (%q)", tc.in, got, got.ListenAddress(), err, tc.want, tc.listen)
		}
	}
	for _, in := range []string{"", "a:b:c", "x", "99999", "1080:"} {
		if _, err := ParseDynamic(in); err == nil || !strings.HasPrefix(err.Error(), "forward: bad -D ") {
			t.Errorf("ParseDynamic(%q) = %v, want an error", in, err)
		}
	}
}

// FuzzParseSpec: the -L and -D parsers never panic, and what they accept
// prints as a spec that parses back to the same.
func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"8080:80", "127.0.0.2:0:db:5432", "[::1]:1:[fd00::1]:2", ":1:2", "1080", "*:1080", "a/1/b/2", "[x]", "1:2:3:4:5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if s, err := ParseLocal(in); err == nil {
			if s.Dynamic || s.Port < 1 || s.Port > 65535 || s.BindPort < 0 || s.BindPort > 65535 {
				t.Fatalf("ParseLocal(%q) = %+v", in, s)
			}
			if again, err := ParseLocal(s.String()); err != nil || again != s {
				t.Fatalf("ParseLocal(%q) = %+v; its String %q parses as %+v, %v", in, s, s.String(), again, err)
			}
		}
		if s, err := ParseDynamic(in); err == nil {
			if !s.Dynamic || s.Host != "" || s.BindPort < 0 || s.BindPort > 65535 {
				t.Fatalf("ParseDynamic(%q) = %+v", in, s)
			}
			if again, err := ParseDynamic(s.String()); err != nil || again != s {
				t.Fatalf("ParseDynamic(%q) = %+v; its String %q parses as %+v, %v", in, s, s.String(), again, err)
			}
		}
	})
}
