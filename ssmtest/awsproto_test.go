package ssmtest

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestCredentialService(t *testing.T) {
	tests := []struct {
		auth, query, want string
	}{
		{"AWS4-HMAC-SHA256 Credential=AKID/20250102/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=ab", "", "ec2"},
		{"AWS4-HMAC-SHA256 Credential=AKID/20250102/eu-west-1/sts/aws4_request,SignedHeaders=host,Signature=ab", "", "sts"},
		{"AWS4-HMAC-SHA256 Credential=AKID/20250102/us-east-1/ec2-instance-connect/aws4_request, Signature=ab", "", "ec2-instance-connect"},
		{"Bearer xyz", "", "unknown"},
		{"", "X-Amz-Credential=" + url.QueryEscape("AKID/20250102/us-east-1/ssm/aws4_request"), "ssm"},
		{"", "", ""},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodPost, "/?"+tt.query, nil)
		if tt.auth != "" {
			r.Header.Set("Authorization", tt.auth)
		}
		if got := credentialService(r); got != tt.want {
			t.Errorf("%q %q: %q, want %q", tt.auth, tt.query, got, tt.want)
		}
	}
}

func TestQueryFormLists(t *testing.T) {
	v, _ := url.ParseQuery("InstanceId.1=a&InstanceId.2=b&InstanceId.4=d&Filter.1.Name=tag:Name&Filter.1.Value.1=x&Filter.1.Value.2=y&Filter.2.Name=tag-key")
	f := queryForm(v)
	if got := f.list("InstanceId"); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("list = %v (a gap ends the list)", got)
	}
	got := f.filters()
	if len(got) != 2 || got[0].Name != "tag:Name" || !slices.Equal(got[0].Values, []string{"x", "y"}) || got[1].Name != "tag-key" || got[1].Values != nil {
		t.Errorf("filters = %+v", got)
	}
}

func TestGlobRegexp(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"web-*", "web-al2023", true},
		{"web-*", "app-web", false},
		{"db-?hel", "db-rhel", true},
		{"a.b", "axb", false},
		{`a\*b`, "a*b", true},
		{`a\*b`, "axb", false},
		{"*", "", true},
	}
	for _, tt := range tests {
		if got := globRegexp(tt.pattern).MatchString(tt.s); got != tt.want {
			t.Errorf("%q ~ %q = %v", tt.pattern, tt.s, got)
		}
	}
}

const testAuth = "AWS4-HMAC-SHA256 Credential=AKID/20250102/us-east-1/%s/aws4_request, SignedHeaders=host, Signature=00"

// FuzzAPI feeds arbitrary requests to the dispatcher: it must never panic,
// and every failure must be in the wire shape of the service asked.
func FuzzAPI(f *testing.F) {
	f.Add("AmazonSSM.StartSession", "ssm", []byte(`{"Target":"i-0a1b2c3d4e5f00002","DocumentName":"AWS-StartSSHSession","Parameters":{"portNumber":["22"]}}`))
	f.Add("AmazonSSM.DescribeInstanceInformation", "ssm", []byte(`{"Filters":[{"Key":"tag:Name","Values":["*"]}],"MaxResults":5,"NextToken":"x"}`))
	f.Add("TrentService.Decrypt", "kms", []byte(`{"CiphertextBlob":"U1NNVEtNUzE=","EncryptionContext":{"a":"b"}}`))
	f.Add("TrentService.GenerateDataKey", "kms", []byte(`{"KeyId":"alias/ssm-sessions","NumberOfBytes":2000}`))
	f.Add("AWSEC2InstanceConnectService.SendSSHPublicKey", "ec2-instance-connect", []byte(`{"InstanceId":"i-0a1b2c3d4e5f00001"}`))
	f.Add("", "ec2", []byte("Action=DescribeInstances&Version=2016-11-15&InstanceId.1=i-1&Filter.1.Name=tag:Name&Filter.1.Value.1=*"))
	f.Add("", "ec2", []byte("Action=DescribeImages&Version=2016-11-15&ImageId.1=ami-0a1b2c3d4e5f01002"))
	f.Add("", "sts", []byte("Action=GetCallerIdentity&Version=2011-06-15"))
	f.Add("AmazonSSM.GetDocument", "", []byte(`{"Name":"AWS-StartSSHSession"}`))
	s := NewUnstartedServer(Options{})
	f.Fuzz(func(t *testing.T, target, service string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
		if target != "" {
			r.Header.Set("X-Amz-Target", target)
			r.Header.Set("Content-Type", "application/x-amz-json-1.1")
		} else {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if service != "" {
			r.Header.Set("Authorization", strings.Replace(testAuth, "%s", service, 1))
		}
		w := httptest.NewRecorder()
		s.serveAPI(w, r)
		if w.Code == http.StatusNotFound || w.Code == http.StatusOK {
			return
		}
		if target != "" {
			var e struct {
				Type string `json:"__type"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Type == "" || w.Header().Get("X-Amzn-ErrorType") != e.Type {
				t.Fatalf("JSON error %d %q: %v", w.Code, w.Body, err)
			}
			return
		}
		var e struct {
			Code  string `xml:"Errors>Error>Code"`
			Code2 string `xml:"Error>Code"`
		}
		if err := xml.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Code+e.Code2 == "" {
			t.Fatalf("XML error %d %q: %v", w.Code, w.Body, err)
		}
	})
}
