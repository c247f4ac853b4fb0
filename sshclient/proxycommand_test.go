package sshclient

import (
	"testing"
)

func TestParseSSMProxy(t *testing.T) {
	tests := []struct {
		cmd  string
		want SSMProxy
		ok   bool
	}{
		{cmd: "ssmproxy i-0abc 22", ok: true, want: SSMProxy{Target: "i-0abc", Port: "22"}},
		{cmd: "/usr/local/bin/ssmproxy --profile prod --region=eu-west-1 --suffix .aws web.aws 22", ok: true,
			want: SSMProxy{Profile: "prod", Region: "eu-west-1", Suffix: ".aws", HasSuffix: true, Target: "web.aws", Port: "22"}},
		{cmd: "exec ssmproxy -v -profile p --document-name Doc --parameters a=b h", ok: true,
			want: SSMProxy{Profile: "p", DocumentName: "Doc", Parameters: "a=b", Target: "h"}},
		{cmd: "AWS_PROFILE=dev AWS_REGION=us-west-2 ssmproxy --suffix '' h 2222", ok: true,
			want: SSMProxy{Profile: "dev", Region: "us-west-2", HasSuffix: true, Target: "h", Port: "2222"}},
		{cmd: `'C:\tools\ssmproxy.exe' i-1 22`, ok: true, want: SSMProxy{Target: "i-1", Port: "22"}},
		{cmd: `sh -c "aws ssm start-session --target i-0abc --document-name AWS-StartSSHSession --parameters 'portNumber=22'"`, ok: true,
			want: SSMProxy{Target: "i-0abc", Port: "22", DocumentName: "AWS-StartSSHSession", Parameters: "portNumber=22", HasSuffix: true}},
		{cmd: `aws --profile p ssm start-session --region r --target i-1 --document-name AWS-StartSSHSession --parameters '{"portNumber":["2222"]}'`, ok: true,
			want: SSMProxy{Profile: "p", Region: "r", Target: "i-1", Port: "2222", DocumentName: "AWS-StartSSHSession", Parameters: `{"portNumber":["2222"]}`, HasSuffix: true}},
		{cmd: `bash -c "AWS_PROFILE=x aws ssm start-session --target i-1 --document-name AWS-StartSSHSession"`, ok: true,
			want: SSMProxy{Profile: "x", Target: "i-1", DocumentName: "AWS-StartSSHSession", HasSuffix: true}},
		// Other documents, other programs, and broken commands are not ours.
		{cmd: "aws ssm start-session --target i-1 --document-name AWS-StartPortForwardingSession"},
		{cmd: "aws ssm start-session --target i-1"},
		{cmd: "nc %h %p"},
		{cmd: "ssh -W %h:%p bastion"},
		{cmd: "ssmproxy"},
		{cmd: "ssmproxy config"},
		{cmd: "ssmproxy --profile"},
		{cmd: "ssmproxy a b c"},
		{cmd: "ssmproxy 'unterminated"},
		{cmd: "sh -c"},
		{cmd: `ssmproxy \`, ok: true, want: SSMProxy{Target: `\`}}, // sh keeps a final backslash
		{cmd: "ssmproxy '' 22"},
	}
	for _, tt := range tests {
		got, ok := parseSSMProxy(tt.cmd)
		if ok != tt.ok || got != tt.want {
			t.Errorf("parseSSMProxy(%q) = %+v, %v; want %+v, %v", tt.cmd, got, ok, tt.want, tt.ok)
		}
	}
}

func TestResolveSSMProxy(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, `
Host i-* mi-*
    ProxyCommand ssmproxy --profile work %h %p
Host *.ssm
    User ec2-user
    ProxyCommand "/opt/ssmssh/bin/ssmproxy" --suffix .ssm --region eu-central-1 %h %p
Host plain
    ProxyCommand none
`, nil)
	c, err := Resolve("i-0abc", testOptions(dir, "Port=2222"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.UsesSSMProxy || c.SSMProxy != (SSMProxy{Profile: "work", Target: "i-0abc", Port: "2222"}) {
		t.Errorf("i-0abc: %v %+v", c.UsesSSMProxy, c.SSMProxy)
	}
	if c.ProxyCommand != "ssmproxy --profile work %h %p" {
		t.Errorf("ProxyCommand = %q, want it unexpanded", c.ProxyCommand)
	}
	c, err = Resolve("web.ssm", testOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	want := SSMProxy{Region: "eu-central-1", Suffix: ".ssm", HasSuffix: true, Target: "web.ssm", Port: "22"}
	if !c.UsesSSMProxy || c.SSMProxy != want || c.User != "ec2-user" {
		t.Errorf("web.ssm: %v %+v %q", c.UsesSSMProxy, c.SSMProxy, c.User)
	}
	c, err = Resolve("plain", testOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	if c.UsesSSMProxy || c.ProxyCommand != "" {
		t.Errorf("ProxyCommand none: %v %q", c.UsesSSMProxy, c.ProxyCommand)
	}
}
