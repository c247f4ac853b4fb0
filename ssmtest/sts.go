package ssmtest

import "encoding/xml"

// The STS operations (query protocol, Version 2011-06-15).
func (s *Server) stsQueryOps() map[string]queryOp {
	return map[string]queryOp{
		"GetCallerIdentity": s.stsGetCallerIdentity,
	}
}

type getCallerIdentityResponse struct {
	XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ GetCallerIdentityResponse"`
	Result  struct {
		Arn     string `xml:"Arn"`
		UserID  string `xml:"UserId"`
		Account string `xml:"Account"`
	} `xml:"GetCallerIdentityResult"`
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

// stsGetCallerIdentity answers with Options.CallerARN. Like AWS, it needs
// no permission, so APIAccessDenied does not apply.
func (s *Server) stsGetCallerIdentity(c *call, _ queryForm) (any, error) {
	var out getCallerIdentityResponse
	out.Result.Arn, out.Result.Account = s.callerARN, s.account
	out.Result.UserID = "AIDASSMTESTFAKEUSERID"
	out.RequestID = c.requestID
	return out, nil
}
