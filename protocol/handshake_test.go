package protocol

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

const (
	testAgentVersion = "3.3.1142.0"
	testKeyID        = "alias/ssm-sessions"
	testSessionID    = "alice-0a1b2c3d4e5f6a7b8"
	testTargetID     = "i-0123456789abcdef0"
)

type handshakeRun struct {
	agentMS, clientMS *memStream
	agent             *AgentHandshakeResult
	agentErr          error
	client            *ClientHandshakeResult
	clientErr         error
}

// runHandshake runs AgentHandshake and ClientHandshake against each other
// over an in-memory stream. When the agent fails it closes its stream, as
// the real agent ends the session, so the client returns too.
func runHandshake(t *testing.T, acfg AgentHandshakeConfig, ccfg ClientHandshakeConfig) *handshakeRun {
	t.Helper()
	r := &handshakeRun{}
	r.agentMS, r.clientMS = newMemPair(t, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.agent, r.agentErr = AgentHandshake(t.Context(), r.agentMS, acfg)
		if r.agentErr != nil {
			r.agentMS.Close()
		}
	}()
	r.client, r.clientErr = ClientHandshake(t.Context(), r.clientMS, ccfg)
	if r.clientErr != nil {
		r.clientMS.Close()
	}
	<-done
	return r
}

func runHandshakeKMS(t *testing.T, agentKMS, clientKMS KMSClient) *handshakeRun {
	t.Helper()
	acfg, ccfg := kmsConfigs(agentKMS, clientKMS)
	return runHandshake(t, acfg, ccfg)
}

func portAgentConfig() AgentHandshakeConfig {
	return AgentHandshakeConfig{
		AgentVersion: testAgentVersion,
		SessionType:  SessionTypePort,
		Properties:   json.RawMessage(`{"localPortNumber":"0","portNumber":"22","type":"LocalPortForwarding"}`),
		SessionID:    testSessionID,
		TargetID:     testTargetID,
	}
}

func kmsConfigs(agentKMS, clientKMS KMSClient) (AgentHandshakeConfig, ClientHandshakeConfig) {
	return AgentHandshakeConfig{
			AgentVersion: testAgentVersion,
			SessionType:  SessionTypeShell,
			KMSKeyID:     testKeyID,
			KMS:          agentKMS,
			SessionID:    testSessionID,
			TargetID:     testTargetID,
		}, ClientHandshakeConfig{
			SessionID: testSessionID,
			TargetID:  testTargetID,
			KMS:       clientKMS,
		}
}

func TestHandshakePort(t *testing.T) {
	r := runHandshake(t, portAgentConfig(), ClientHandshakeConfig{SessionID: testSessionID, TargetID: testTargetID})
	if r.agentErr != nil || r.clientErr != nil {
		t.Fatalf("agent: %v; client: %v", r.agentErr, r.clientErr)
	}
	c := r.client
	if c.Skipped || c.SessionType != SessionTypePort || c.AgentVersion != testAgentVersion || c.Cipher != nil || c.CustomerMessage != "" {
		t.Errorf("client result = %+v", c)
	}
	if c.Port == nil || *c.Port != (PortProperties{PortNumber: "22", Type: "LocalPortForwarding", LocalPortNumber: "0"}) {
		t.Errorf("client Port = %+v", c.Port)
	}
	if r.agent.ClientVersion != ClientVersion || r.agent.Cipher != nil {
		t.Errorf("agent result = %+v", r.agent)
	}
	if got, want := r.clientMS.sentTypes(), []PayloadType{PayloadHandshakeResponse}; !slices.Equal(got, want) {
		t.Errorf("client sent %v, want %v", got, want)
	}
	if got, want := r.agentMS.sentTypes(), []PayloadType{PayloadHandshakeRequest, PayloadHandshakeComplete}; !slices.Equal(got, want) {
		t.Errorf("agent sent %v, want %v", got, want)
	}

	// Data flows plain afterwards.
	cs, as := c.Stream(r.clientMS), r.agent.Stream(r.agentMS)
	if err := cs.Send(PayloadOutput, []byte("SSH-2.0-x\r\n")); err != nil {
		t.Fatal(err)
	}
	if pt, p, err := as.Recv(); err != nil || pt != PayloadOutput || string(p) != "SSH-2.0-x\r\n" {
		t.Errorf("agent Recv = %v %q %v", pt, p, err)
	}
}

// TestHandshakePortIgnoresKMSKey: the agent never encrypts Port sessions,
// even when the document names a key.
func TestHandshakePortIgnoresKMSKey(t *testing.T) {
	kms := newFakeKMS(testKeyID)
	acfg := portAgentConfig()
	acfg.KMSKeyID, acfg.KMS = testKeyID, kms
	r := runHandshake(t, acfg, ClientHandshakeConfig{KMS: kms})
	if r.agentErr != nil || r.clientErr != nil {
		t.Fatalf("agent: %v; client: %v", r.agentErr, r.clientErr)
	}
	if r.agent.Cipher != nil || r.client.Cipher != nil {
		t.Error("a Port session was encrypted")
	}
	if gen, _ := kms.calls(); len(gen) != 0 {
		t.Errorf("KMS was called %d times", len(gen))
	}
}

func TestHandshakeKMS(t *testing.T) {
	kms := newFakeKMS(testKeyID)
	r := runHandshakeKMS(t, kms, kms)
	if r.agentErr != nil || r.clientErr != nil {
		t.Fatalf("agent: %v; client: %v", r.agentErr, r.clientErr)
	}
	if r.client.Cipher == nil || r.agent.Cipher == nil {
		t.Fatal("no cipher negotiated")
	}
	if r.client.CustomerMessage != "This session is encrypted using AWS KMS." {
		t.Errorf("CustomerMessage = %q", r.client.CustomerMessage)
	}
	if r.client.SessionType != SessionTypeShell || r.client.Port != nil || string(r.client.Properties) != "null" {
		t.Errorf("client result = %+v", r.client)
	}

	// The order of the real agent: request, response, challenge,
	// challenge response, complete.
	if got, want := r.agentMS.sentTypes(), []PayloadType{PayloadHandshakeRequest, PayloadEncChallengeRequest, PayloadHandshakeComplete}; !slices.Equal(got, want) {
		t.Errorf("agent sent %v, want %v", got, want)
	}
	if got, want := r.clientMS.sentTypes(), []PayloadType{PayloadHandshakeResponse, PayloadEncChallengeResponse}; !slices.Equal(got, want) {
		t.Errorf("client sent %v, want %v", got, want)
	}

	// Both KMS calls used the same context, with the agent's challenge.
	gen, dec := kms.calls()
	if len(gen) != 1 || len(dec) != 1 {
		t.Fatalf("KMS calls: %d GenerateDataKey, %d Decrypt", len(gen), len(dec))
	}
	var req struct {
		RequestedClientActions []struct {
			ActionType       string
			ActionParameters KMSEncryptionRequest
		}
	}
	json.Unmarshal(r.agentMS.sentPayloads(PayloadHandshakeRequest)[0], &req)
	challenge := req.RequestedClientActions[1].ActionParameters.Challenge
	want := EncryptionContext(testSessionID, testTargetID, challenge)
	if challenge == "" || !mapsEqual(gen[0], want) || !mapsEqual(dec[0], want) {
		t.Errorf("contexts: generate %v, decrypt %v, want %v", gen[0], dec[0], want)
	}

	// The ActionResult carries the blob, its SHA-256 and the
	// acknowledgement.
	var resp HandshakeResponse
	json.Unmarshal(r.clientMS.sentPayloads(PayloadHandshakeResponse)[0], &resp)
	var kr KMSEncryptionResponse
	json.Unmarshal(resp.ProcessedClientActions[1].ActionResult, &kr)
	if h := sha256.Sum256(kr.KMSCipherTextKey); !bytes.Equal(h[:], kr.KMSCipherTextHash) || !kr.ChallengeAcknowledgement {
		t.Errorf("KMSEncryption result = %+v", kr)
	}

	// Data is encrypted both ways afterwards.
	cs, as := r.client.Stream(r.clientMS), r.agent.Stream(r.agentMS)
	if err := cs.Send(PayloadOutput, []byte("id\n")); err != nil {
		t.Fatal(err)
	}
	if pt, p, err := as.Recv(); err != nil || pt != PayloadOutput || string(p) != "id\n" {
		t.Errorf("agent Recv = %v %q %v", pt, p, err)
	}
	if err := as.Send(PayloadOutput, []byte("uid=0(root)\n")); err != nil {
		t.Fatal(err)
	}
	if pt, p, err := cs.Recv(); err != nil || pt != PayloadOutput || string(p) != "uid=0(root)\n" {
		t.Errorf("client Recv = %v %q %v", pt, p, err)
	}
	out := r.clientMS.sentPayloads(PayloadOutput)
	if len(out) != 1 || bytes.Contains(out[0], []byte("id")) {
		t.Errorf("client Output on the wire = %q, want sealed", out)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

func TestHandshakeKMSFailures(t *testing.T) {
	t.Run("agent cannot decrypt the key", func(t *testing.T) {
		// Same key id, different master key: the instance's KMS view
		// does not match the client's.
		r := runHandshakeKMS(t, newFakeKMS(testKeyID), newFakeKMS(testKeyID))
		wantAgentError(t, r.agentErr, ActionKMSEncryption, "Fetching data key failed: Unable to retrieve data key, Error when decrypting data key ")
		if !isAPIError(r.agentErr, "InvalidCiphertextException") {
			t.Errorf("agent error %v does not carry the KMS error", r.agentErr)
		}
		if r.clientErr == nil {
			t.Error("client succeeded against a failed agent")
		}
	})
	t.Run("instance lacks kms:Decrypt", func(t *testing.T) {
		kms := newFakeKMS(testKeyID)
		agentKMS := newFakeKMS()
		agentKMS.keys = kms.keys
		agentKMS.denyDecrypt = true
		r := runHandshakeKMS(t, agentKMS, kms)
		if !isAPIError(r.agentErr, "AccessDeniedException") {
			t.Errorf("agent error = %v, want AccessDeniedException", r.agentErr)
		}
	})
	t.Run("encryption context mismatch", func(t *testing.T) {
		kms := newFakeKMS(testKeyID)
		acfg, ccfg := kmsConfigs(kms, kms)
		ccfg.SessionID = "someone-else-0123456789"
		r := runHandshake(t, acfg, ccfg)
		if !isAPIError(r.agentErr, "InvalidCiphertextException") {
			t.Errorf("agent error = %v, want InvalidCiphertextException", r.agentErr)
		}
	})
	t.Run("client has no KMS client", func(t *testing.T) {
		r := runHandshakeKMS(t, newFakeKMS(testKeyID), nil)
		wantAgentError(t, r.agentErr, ActionKMSEncryption, "KMSEncryption failed on client with status 2 error: Failed to process action KMSEncryption: protocol: no KMS client configured")
		var he *HandshakeError
		if !errors.As(r.clientErr, &he) || he.Action != ActionKMSEncryption || !errors.Is(r.clientErr, ErrNoKMSClient) {
			t.Errorf("client error = %v, want a KMSEncryption HandshakeError wrapping ErrNoKMSClient", r.clientErr)
		}
		if got := r.clientMS.sentTypes(); !slices.Equal(got, []PayloadType{PayloadHandshakeResponse}) {
			t.Errorf("client sent %v", got)
		}
	})
	t.Run("client lacks kms:GenerateDataKey", func(t *testing.T) {
		kms := newFakeKMS(testKeyID)
		kms.denyGen = true
		r := runHandshakeKMS(t, kms, kms)
		wantAgentError(t, r.agentErr, ActionKMSEncryption,
			"KMSEncryption failed on client with status 2 error: Failed to process action KMSEncryption: Error calling KMS GenerateDataKey API: api error AccessDeniedException: User is not authorized to perform: kms:GenerateDataKey")
		if !isAPIError(r.clientErr, "AccessDeniedException") {
			t.Errorf("client error = %v, want one carrying AccessDeniedException", r.clientErr)
		}
	})
	t.Run("unknown KMS key", func(t *testing.T) {
		kms := newFakeKMS("alias/other")
		r := runHandshakeKMS(t, kms, kms)
		if !isAPIError(r.clientErr, "NotFoundException") || r.agentErr == nil {
			t.Errorf("client error = %v, agent error = %v", r.clientErr, r.agentErr)
		}
	})
	t.Run("agent has no KMS client", func(t *testing.T) {
		acfg, _ := kmsConfigs(nil, nil)
		ms, _ := newMemPair(t, 4)
		_, err := AgentHandshake(t.Context(), ms, acfg)
		if !errors.Is(err, ErrNoKMSClient) {
			t.Errorf("AgentHandshake = %v, want ErrNoKMSClient", err)
		}
	})
}

func wantAgentError(t *testing.T, err error, action ActionType, prefix string) {
	t.Helper()
	var he *HandshakeError
	if !errors.As(err, &he) {
		t.Fatalf("agent error = %v, want a *HandshakeError", err)
	}
	if he.Action != action || !strings.HasPrefix(he.Message, prefix) {
		t.Errorf("agent error = {%s %q}, want {%s %q...}", he.Action, he.Message, action, prefix)
	}
}

// recvJSON reads the next payload, checks its type and decodes it.
func recvJSON(t *testing.T, ms MessageStream, want PayloadType, v any) {
	t.Helper()
	pt, p, err := ms.Recv()
	if err != nil || pt != want {
		t.Fatalf("Recv = %v %q %v, want %v", pt, p, err, want)
	}
	if err := json.Unmarshal(p, v); err != nil {
		t.Fatalf("%v payload %q: %v", pt, p, err)
	}
}

func sendJSONT(t *testing.T, ms MessageStream, pt PayloadType, v any) {
	t.Helper()
	if err := sendJSON(ms, pt, v); err != nil {
		t.Fatal(err)
	}
}

// scriptedKMSClient plays the client by hand up to the challenge, for
// failures ClientHandshake would never produce. It returns the client's
// cipher.
func scriptedKMSClient(t *testing.T, ms MessageStream, kms KMSClient) *Cipher {
	var req HandshakeRequest
	recvJSON(t, ms, PayloadHandshakeRequest, &req)
	var kr KMSEncryptionRequest
	json.Unmarshal(req.RequestedClientActions[1].ActionParameters, &kr)
	plain, blob, err := kms.GenerateDataKey(t.Context(), kr.KMSKeyID, EncryptionContext(testSessionID, testTargetID, kr.Challenge), DataKeySize)
	if err != nil {
		t.Fatal(err)
	}
	result, _ := json.Marshal(KMSEncryptionResponse{KMSCipherTextKey: blob, ChallengeAcknowledgement: true})
	sendJSONT(t, ms, PayloadHandshakeResponse, HandshakeResponse{ClientVersion: ClientVersion, ProcessedClientActions: []ProcessedClientAction{
		{ActionType: ActionSessionType, ActionStatus: ActionSuccess},
		{ActionType: ActionKMSEncryption, ActionStatus: ActionSuccess, ActionResult: result},
	}})
	c, _ := NewClientCipher(plain)
	return c
}

func TestHandshakeChallengeFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(c *Cipher, plain []byte) []byte
		want   string
		is     error
	}{
		{"wrong bytes", func(c *Cipher, plain []byte) []byte { return c.Seal(make([]byte, 64)) }, "Encryption challenge does not match!", nil},
		{"another key", func(c *Cipher, plain []byte) []byte {
			other, _ := NewClientCipher(testDataKey())
			return other.Seal(plain)
		}, "Error decrypting encrypted text, ", ErrDecrypt},
		{"echoed unchanged", nil, "Error decrypting encrypted text, ", ErrDecrypt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kms := newFakeKMS(testKeyID)
			agentMS, clientMS := newMemPair(t, 16)
			acfg, _ := kmsConfigs(kms, nil)
			errc := make(chan error, 1)
			go func() {
				_, err := AgentHandshake(t.Context(), agentMS, acfg)
				errc <- err
			}()
			c := scriptedKMSClient(t, clientMS, kms)
			var ch EncryptionChallenge
			recvJSON(t, clientMS, PayloadEncChallengeRequest, &ch)
			answer := ch.Challenge
			if tc.answer != nil {
				plain, err := c.Open(ch.Challenge)
				if err != nil {
					t.Fatal(err)
				}
				answer = tc.answer(c, plain)
			}
			sendJSONT(t, clientMS, PayloadEncChallengeResponse, EncryptionChallenge{Challenge: answer})
			err := <-errc
			wantAgentError(t, err, ActionKMSEncryption, tc.want)
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v does not wrap %v", err, tc.is)
			}
		})
	}
}

func TestHandshakeTimeouts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		agentMS, _ := newMemPair(nil, 16)
		defer agentMS.Close()
		start := time.Now()
		_, err := AgentHandshake(context.Background(), agentMS, portAgentConfig())
		if !errors.Is(err, ErrHandshakeTimeout) {
			t.Fatalf("AgentHandshake = %v, want ErrHandshakeTimeout", err)
		}
		if err.Error() != "protocol: handshake: Handshake timed out. Please ensure that you have the latest version of the session manager plugin." {
			t.Errorf("error text = %q", err)
		}
		if d := time.Since(start); d != 15*time.Second {
			t.Errorf("timed out after %v, want 15s", d)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		agentMS, _ := newMemPair(nil, 16)
		defer agentMS.Close()
		cfg := portAgentConfig()
		cfg.Timeout = 2 * time.Second
		start := time.Now()
		if _, err := AgentHandshake(context.Background(), agentMS, cfg); !errors.Is(err, ErrHandshakeTimeout) || time.Since(start) != 2*time.Second {
			t.Errorf("AgentHandshake = %v after %v, want a timeout after 2s", err, time.Since(start))
		}
	})
	synctest.Test(t, func(t *testing.T) {
		// The client answers the request but never the challenge.
		kms := newFakeKMS(testKeyID)
		agentMS, clientMS := newMemPair(nil, 16)
		defer agentMS.Close()
		acfg, _ := kmsConfigs(kms, nil)
		type result struct {
			err     error
			elapsed time.Duration
		}
		done := make(chan result, 1)
		go func() {
			start := time.Now()
			_, err := AgentHandshake(context.Background(), agentMS, acfg)
			done <- result{err, time.Since(start)}
		}()
		scriptedKMSClient(t, clientMS, kms)
		r := <-done
		if !errors.Is(r.err, ErrHandshakeTimeout) || !strings.HasSuffix(r.err.Error(), "Timed out waiting for encryption challenge.") {
			t.Errorf("AgentHandshake = %v", r.err)
		}
		if r.elapsed != 15*time.Second {
			t.Errorf("timed out after %v, want 15s", r.elapsed)
		}
	})
}

func TestHandshakeContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	ms, _ := newMemPair(t, 4)
	if _, err := ClientHandshake(ctx, ms, ClientHandshakeConfig{}); !errors.Is(err, context.Canceled) {
		t.Errorf("ClientHandshake = %v, want context.Canceled", err)
	}
}

// TestHandshakeSkippedShell: a plain shell sends output with no handshake;
// the client must not lose that first payload.
func TestHandshakeSkippedShell(t *testing.T) {
	agentMS, clientMS := newMemPair(t, 16)
	agentMS.Send(PayloadOutput, []byte("sh-5.2$ "))
	agentMS.Send(PayloadOutput, []byte("more"))
	res, err := ClientHandshake(t.Context(), clientMS, ClientHandshakeConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Skipped || res.SessionType != SessionTypeShell || res.Cipher != nil {
		t.Errorf("result = %+v", res)
	}
	if n := len(clientMS.sentTypes()); n != 0 {
		t.Errorf("client sent %d payloads", n)
	}
	s := res.Stream(clientMS)
	for _, want := range []string{"sh-5.2$ ", "more"} {
		if pt, p, err := s.Recv(); err != nil || pt != PayloadOutput || string(p) != want {
			t.Errorf("Recv = %v %q %v, want Output %q", pt, p, err, want)
		}
	}
}

// TestHandshakeAgentDropsEarlyData: client data sent before
// HandshakeComplete never reaches the session plugin.
func TestHandshakeAgentDropsEarlyData(t *testing.T) {
	agentMS, clientMS := newMemPair(t, 16)
	errc := make(chan error, 1)
	var res *AgentHandshakeResult
	go func() {
		var err error
		res, err = AgentHandshake(t.Context(), agentMS, portAgentConfig())
		errc <- err
	}()
	var req HandshakeRequest
	recvJSON(t, clientMS, PayloadHandshakeRequest, &req)
	clientMS.Send(PayloadOutput, []byte("too early"))
	clientMS.Send(PayloadSize, []byte(`{"cols":80,"rows":24}`))
	sendJSONT(t, clientMS, PayloadHandshakeResponse, HandshakeResponse{ClientVersion: "1.2.0.0",
		ProcessedClientActions: []ProcessedClientAction{{ActionType: ActionSessionType, ActionStatus: ActionSuccess}}})
	var hc HandshakeComplete
	recvJSON(t, clientMS, PayloadHandshakeComplete, &hc)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if res.ClientVersion != "1.2.0.0" {
		t.Errorf("ClientVersion = %q", res.ClientVersion)
	}
	clientMS.Send(PayloadOutput, []byte("in time"))
	if pt, p, err := res.Stream(agentMS).Recv(); err != nil || pt != PayloadOutput || string(p) != "in time" {
		t.Errorf("plugin received %v %q %v, want only the data sent after HandshakeComplete", pt, p, err)
	}
}

func TestHandshakeUnsupportedAction(t *testing.T) {
	// Client side: an action it does not know is answered Unsupported.
	agentMS, clientMS := newMemPair(t, 16)
	agentMS.Send(PayloadHandshakeRequest, []byte(`{"AgentVersion":"9.0.0.0","RequestedClientActions":[`+
		`{"ActionType":"SessionType","ActionParameters":{"SessionType":"Port","Properties":{"portNumber":"22"}}},`+
		`{"ActionType":"Teleport","ActionParameters":{}}]}`))
	_, err := ClientHandshake(t.Context(), clientMS, ClientHandshakeConfig{})
	var he *HandshakeError
	if !errors.As(err, &he) || he.Action != "Teleport" || he.Message != "Unsupported action Teleport" {
		t.Errorf("ClientHandshake = %v", err)
	}
	pt, p, _ := agentMS.Recv()
	want := `{"ClientVersion":"1.2.764.0","ProcessedClientActions":[` +
		`{"ActionType":"SessionType","ActionStatus":1,"ActionResult":null,"Error":""},` +
		`{"ActionType":"Teleport","ActionStatus":3,"ActionResult":null,"Error":"Unsupported action Teleport"}],` +
		`"Errors":["Unsupported action Teleport"]}`
	if pt != PayloadHandshakeResponse || string(p) != want {
		t.Errorf("response = %v %s\nwant %s", pt, p, want)
	}

	// Agent side: any status but Success fails the session.
	agentMS, clientMS = newMemPair(t, 16)
	errc := make(chan error, 1)
	go func() {
		_, err := AgentHandshake(t.Context(), agentMS, portAgentConfig())
		errc <- err
	}()
	clientMS.Recv()
	clientMS.Send(PayloadHandshakeResponse, p)
	wantAgentError(t, <-errc, "Teleport", "Teleport failed on client with status 3 error: Unsupported action Teleport")
}

func TestHandshakeUnknownSessionType(t *testing.T) {
	agentMS, clientMS := newMemPair(t, 16)
	agentMS.Send(PayloadHandshakeRequest, []byte(`{"AgentVersion":"3.3.0.0","RequestedClientActions":[{"ActionType":"SessionType","ActionParameters":{"SessionType":"Telepathy","Properties":null}}]}`))
	_, err := ClientHandshake(t.Context(), clientMS, ClientHandshakeConfig{})
	var he *HandshakeError
	if !errors.As(err, &he) || he.Action != ActionSessionType {
		t.Fatalf("ClientHandshake = %v", err)
	}
	_, p, _ := agentMS.Recv()
	if !bytes.Contains(p, []byte(`"ActionStatus":2,"ActionResult":null,"Error":"Failed to process action SessionType: Unknown session type Telepathy"`)) {
		t.Errorf("response = %s", p)
	}
}

// TestHandshakeWire pins the payloads as the real agent and plugin emit
// them (field order and spelling from their Go structs).
func TestHandshakeWire(t *testing.T) {
	t.Run("agent request and complete, Port", func(t *testing.T) {
		cfg := portAgentConfig()
		cfg.Properties = json.RawMessage(`{"portNumber":"22"}`)
		r := runHandshake(t, cfg, ClientHandshakeConfig{})
		if r.agentErr != nil || r.clientErr != nil {
			t.Fatalf("agent: %v; client: %v", r.agentErr, r.clientErr)
		}
		if got, want := string(r.agentMS.sentPayloads(PayloadHandshakeRequest)[0]),
			`{"AgentVersion":"3.3.1142.0","RequestedClientActions":[{"ActionType":"SessionType","ActionParameters":{"SessionType":"Port","Properties":{"portNumber":"22"}}}]}`; got != want {
			t.Errorf("HandshakeRequest\n got %s\nwant %s", got, want)
		}
		if got := string(r.agentMS.sentPayloads(PayloadHandshakeComplete)[0]); !regexp.MustCompile(`^\{"HandshakeTimeToComplete":[0-9]+,"CustomerMessage":""\}$`).MatchString(got) {
			t.Errorf("HandshakeComplete = %s", got)
		}
		if got, want := string(r.clientMS.sentPayloads(PayloadHandshakeResponse)[0]),
			`{"ClientVersion":"1.2.764.0","ProcessedClientActions":[{"ActionType":"SessionType","ActionStatus":1,"ActionResult":null,"Error":""}],"Errors":null}`; got != want {
			t.Errorf("HandshakeResponse\n got %s\nwant %s", got, want)
		}
	})
	t.Run("agent request, KMS shell", func(t *testing.T) {
		kms := newFakeKMS(testKeyID)
		r := runHandshakeKMS(t, kms, kms)
		if r.agentErr != nil || r.clientErr != nil {
			t.Fatalf("agent: %v; client: %v", r.agentErr, r.clientErr)
		}
		got := string(r.agentMS.sentPayloads(PayloadHandshakeRequest)[0])
		re := regexp.MustCompile(`^\{"AgentVersion":"3\.3\.1142\.0","RequestedClientActions":\[` +
			`\{"ActionType":"SessionType","ActionParameters":\{"SessionType":"Standard_Stream","Properties":null\}\},` +
			`\{"ActionType":"KMSEncryption","ActionParameters":\{"KMSKeyId":"alias/ssm-sessions","Challenge":"([A-Za-z0-9+/]{22}==)"\}\}\]\}$`)
		if !re.MatchString(got) {
			t.Errorf("HandshakeRequest = %s", got)
		}
		if got := string(r.agentMS.sentPayloads(PayloadHandshakeComplete)[0]); !regexp.MustCompile(`^\{"HandshakeTimeToComplete":[0-9]+,"CustomerMessage":"This session is encrypted using AWS KMS\."\}$`).MatchString(got) {
			t.Errorf("HandshakeComplete = %s", got)
		}
		got = string(r.clientMS.sentPayloads(PayloadHandshakeResponse)[0])
		re = regexp.MustCompile(`^\{"ClientVersion":"1\.2\.764\.0","ProcessedClientActions":\[` +
			`\{"ActionType":"SessionType","ActionStatus":1,"ActionResult":null,"Error":""\},` +
			`\{"ActionType":"KMSEncryption","ActionStatus":1,"ActionResult":\{"KMSCipherTextKey":"[A-Za-z0-9+/=]+","KMSCipherTextHash":"[A-Za-z0-9+/]{43}=","ChallengeAcknowledgement":true\},"Error":""\}\],"Errors":null\}$`)
		if !re.MatchString(got) {
			t.Errorf("HandshakeResponse = %s", got)
		}
		// base64 of nonce, 64 challenge bytes and tag: 92 bytes.
		if got := string(r.agentMS.sentPayloads(PayloadEncChallengeRequest)[0]); !regexp.MustCompile(`^\{"Challenge":"[A-Za-z0-9+/]{123}="\}$`).MatchString(got) {
			t.Errorf("EncChallengeRequest = %s", got)
		}
		if got := string(r.clientMS.sentPayloads(PayloadEncChallengeResponse)[0]); !regexp.MustCompile(`^\{"Challenge":"[A-Za-z0-9+/]{123}="\}$`).MatchString(got) {
			t.Errorf("EncChallengeResponse = %s", got)
		}
	})
	t.Run("client parses a recorded agent request", func(t *testing.T) {
		agentMS, clientMS := newMemPair(t, 16)
		agentMS.Send(PayloadHandshakeRequest, []byte(`{"AgentVersion":"3.3.0.0","RequestedClientActions":[{"ActionType":"SessionType","ActionParameters":{"SessionType":"Port","Properties":{"portNumber":"22"}}}]}`))
		agentMS.Send(PayloadHandshakeComplete, []byte(`{"HandshakeTimeToComplete":1234567,"CustomerMessage":""}`))
		res, err := ClientHandshake(t.Context(), clientMS, ClientHandshakeConfig{ClientVersion: "1.2.0.0"})
		if err != nil {
			t.Fatal(err)
		}
		if res.AgentVersion != "3.3.0.0" || res.Port.PortNumber != "22" || res.TimeToComplete != 1234567 || string(res.Properties) != `{"portNumber":"22"}` {
			t.Errorf("result = %+v", res)
		}
		if _, p, _ := agentMS.Recv(); !bytes.HasPrefix(p, []byte(`{"ClientVersion":"1.2.0.0",`)) {
			t.Errorf("response = %s", p)
		}
	})
}

func TestHandshakeSeparateOutputMessage(t *testing.T) {
	agentMS, clientMS := newMemPair(t, 16)
	cfg := AgentHandshakeConfig{AgentVersion: testAgentVersion, SessionType: SessionTypeNonInteractiveCommands, SeparateOutputStream: true}
	errc := make(chan error, 1)
	var res *AgentHandshakeResult
	go func() {
		var err error
		res, err = AgentHandshake(t.Context(), agentMS, cfg)
		errc <- err
	}()
	c, err := ClientHandshake(t.Context(), clientMS, ClientHandshakeConfig{ClientVersion: "1.2.200.0"})
	if err != nil || <-errc != nil {
		t.Fatal(err)
	}
	want := "Please update session manager plugin version (minimum required version 1.2.312.0) for fully support of separate StdOut/StdErr output.\r\n"
	if c.CustomerMessage != want || res.CustomerMessage != want {
		t.Errorf("CustomerMessage = %q", c.CustomerMessage)
	}
}

// FuzzClientHandshake feeds arbitrary HandshakeRequest payloads to the
// client: it must answer or fail, never panic or hang, and never send
// anything but a HandshakeResponse.
func FuzzClientHandshake(f *testing.F) {
	f.Add([]byte(`{"AgentVersion":"3.3.0.0","RequestedClientActions":[{"ActionType":"SessionType","ActionParameters":{"SessionType":"Port","Properties":{"portNumber":"22"}}}]}`))
	f.Add([]byte(`{"AgentVersion":"3.3.0.0","RequestedClientActions":[{"ActionType":"KMSEncryption","ActionParameters":{"KMSKeyId":"k","Challenge":"YQ=="}}]}`))
	f.Add([]byte(`{"RequestedClientActions":[{"ActionType":"SessionType","ActionParameters":{"SessionType":"Port","Properties":[1]}}]}`))
	f.Add([]byte(`{"RequestedClientActions":[{"ActionType":"SessionType","ActionParameters":null}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, request []byte) {
		agentMS, clientMS := newMemPair(t, 8)
		agentMS.Send(PayloadHandshakeRequest, request)
		agentMS.Send(PayloadHandshakeComplete, []byte(`{"HandshakeTimeToComplete":1,"CustomerMessage":""}`))
		agentMS.Close()
		res, err := ClientHandshake(t.Context(), clientMS, ClientHandshakeConfig{})
		if err == nil && (res.SessionType == "" || res.Cipher != nil) {
			t.Errorf("result %+v without error", res)
		}
		for _, pt := range clientMS.sentTypes() {
			if pt != PayloadHandshakeResponse {
				t.Errorf("client sent %v", pt)
			}
		}
	})
}
