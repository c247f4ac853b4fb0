package ssmclient_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/ssmssh/ssmssh/ssmclient"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// cancelOnAnswer cancels a context as soon as the answer to one API
// operation has arrived, before the SDK reads it: a Ctrl-C, or a copy that
// no longer wants another session, landing while StartSession is on the
// wire.
type cancelOnAnswer struct {
	aws.HTTPClient
	target string
	cancel context.CancelFunc
}

func (c cancelOnAnswer) Do(r *http.Request) (*http.Response, error) {
	if r.Header.Get("X-Amz-Target") != c.target {
		return c.HTTPClient.Do(r)
	}
	// The request reaches the service; the context ends before the answer
	// is back, and the HTTP client answers as it does then.
	resp, err := c.HTTPClient.Do(r.WithContext(context.WithoutCancel(r.Context())))
	c.cancel()
	if cerr := r.Context().Err(); cerr != nil {
		if resp != nil {
			resp.Body.Close()
		}
		return nil, cerr
	}
	return resp, err
}

// TestStartSessionCancelledOnTheWire: a StartSession whose context ends
// while the call is in flight returns the context's error and leaves no
// session behind (the emulator's Close, in the cleanup, fails on one still
// live): the service started it, so the client reads the answer and
// terminates it.
func TestStartSessionCancelledOnTheWire(t *testing.T) {
	e := newResumeEnv(t, ssmtest.FaultSet{}, nil)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	e.client.Config.HTTPClient = cancelOnAnswer{HTTPClient: e.client.Config.HTTPClient, target: "AmazonSSM.StartSession", cancel: cancel}
	c := ssmclient.NewClientFromConfig(e.client.Config)
	sess, err := c.StartSession(ctx, ssmclient.StartInput{
		Target: ssmtest.InstanceAmazonLinux, DocumentName: ssmclient.DocumentSSH,
		Parameters: map[string][]string{"portNumber": {echoPort}}, Logf: e.log.Logf,
	})
	if err == nil {
		sess.Close()
		t.Fatal("StartSession succeeded after its context was cancelled")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if e.log.Count("terminating: Session terminated by TerminateSession") != 1 {
		t.Errorf("the started session was not terminated")
	}
}
