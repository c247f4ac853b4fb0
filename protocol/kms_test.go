package protocol

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

func testDataKey() []byte {
	k := make([]byte, DataKeySize)
	rand.Read(k)
	return k
}

func rawGCM(t *testing.T, key []byte) cipher.AEAD {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return gcm
}

func TestCipherKeyHalvesAndLayout(t *testing.T) {
	key := testDataKey()
	agent, err := NewAgentCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	client, err := NewClientCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("hello over ssm")

	// Agent → client: sealed with bytes 0..31, laid out nonce ‖ ct ‖ tag,
	// no associated data. Checked with crypto/cipher directly.
	sealed := agent.Seal(msg)
	if len(sealed) != 12+len(msg)+16 {
		t.Fatalf("sealed length %d, want %d", len(sealed), 12+len(msg)+16)
	}
	plain, err := rawGCM(t, key[:32]).Open(nil, sealed[:12], sealed[12:], nil)
	if err != nil || !bytes.Equal(plain, msg) {
		t.Fatalf("agent payload does not open with key bytes 0..31: %v", err)
	}
	if got, err := client.Open(sealed); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("client.Open = %q, %v", got, err)
	}
	if _, err := agent.Open(sealed); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("agent opened its own payload: %v", err)
	}

	// Client → agent: bytes 32..63.
	sealed = client.Seal(msg)
	plain, err = rawGCM(t, key[32:]).Open(nil, sealed[:12], sealed[12:], nil)
	if err != nil || !bytes.Equal(plain, msg) {
		t.Fatalf("client payload does not open with key bytes 32..63: %v", err)
	}
	if got, err := agent.Open(sealed); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("agent.Open = %q, %v", got, err)
	}

	// Nonces are fresh.
	if a, b := client.Seal(msg), client.Seal(msg); bytes.Equal(a[:12], b[:12]) {
		t.Fatal("two seals share a nonce")
	}
	// An empty payload still seals to nonce and tag.
	if n := len(client.Seal(nil)); n != 28 {
		t.Fatalf("empty payload sealed to %d bytes, want 28", n)
	}
}

func TestCipherOpenFailures(t *testing.T) {
	key := testDataKey()
	client, _ := NewClientCipher(key)
	agent, _ := NewAgentCipher(key)
	other, _ := NewAgentCipher(testDataKey())
	sealed := agent.Seal([]byte("secret"))

	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	for name, p := range map[string][]byte{
		"other key": other.Seal([]byte("secret")),
		"tampered":  tampered,
		"short":     sealed[:20],
		"empty":     nil,
	} {
		if _, err := client.Open(p); !errors.Is(err, ErrDecrypt) {
			t.Errorf("%s: Open = %v, want ErrDecrypt", name, err)
		}
	}
	if _, err := NewClientCipher(key[:32]); err == nil {
		t.Error("a 32-byte data key was accepted")
	}
}

func TestEncryptedStreamTypes(t *testing.T) {
	key := testDataKey()
	cc, _ := NewClientCipher(key)
	ac, _ := NewAgentCipher(key)
	rawClient, rawAgent := newMemPair(t, 16)
	client := NewEncryptedStream(rawClient, cc)
	agent := NewEncryptedStream(rawAgent, ac)

	size := []byte(`{"cols":80,"rows":24}`)
	flag := MarshalFlag(FlagTerminateSession)
	for _, m := range []memPayload{{PayloadOutput, []byte("ls\n")}, {PayloadSize, size}, {PayloadFlag, flag}} {
		if err := client.Send(m.pt, m.p); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []memPayload{{PayloadOutput, []byte("out")}, {PayloadStdErr, []byte("err")}, {PayloadExitCode, []byte("EXIT_CODE: 3")}, {PayloadFlag, MarshalFlag(FlagConnectToPortError)}} {
		if err := agent.Send(m.pt, m.p); err != nil {
			t.Fatal(err)
		}
	}

	// On the wire: client Output sealed, Size and Flag plain.
	if p := rawClient.sentPayloads(PayloadOutput)[0]; bytes.Contains(p, []byte("ls")) || len(p) != 3+28 {
		t.Errorf("client Output on the wire is not sealed: %q", p)
	}
	if p := rawClient.sentPayloads(PayloadSize)[0]; !bytes.Equal(p, size) {
		t.Errorf("Size on the wire = %q, want plain", p)
	}
	if p := rawClient.sentPayloads(PayloadFlag)[0]; !bytes.Equal(p, flag) {
		t.Errorf("client Flag on the wire = %x, want plain", p)
	}
	// Agent Output, StdErr and ExitCode sealed, Flag plain.
	for _, pt := range []PayloadType{PayloadOutput, PayloadStdErr, PayloadExitCode} {
		if p := rawAgent.sentPayloads(pt)[0]; len(p) < 28 || bytes.Contains(p, []byte("EXIT")) {
			t.Errorf("agent %v on the wire is not sealed: %q", pt, p)
		}
	}
	if p := rawAgent.sentPayloads(PayloadFlag)[0]; !bytes.Equal(p, MarshalFlag(FlagConnectToPortError)) {
		t.Errorf("agent Flag on the wire = %x, want plain", p)
	}

	for _, want := range []memPayload{{PayloadOutput, []byte("ls\n")}, {PayloadSize, size}, {PayloadFlag, flag}} {
		pt, p, err := agent.Recv()
		if err != nil || pt != want.pt || !bytes.Equal(p, want.p) {
			t.Errorf("agent Recv = %v %q %v, want %v %q", pt, p, err, want.pt, want.p)
		}
	}
	for _, want := range []memPayload{{PayloadOutput, []byte("out")}, {PayloadStdErr, []byte("err")}, {PayloadExitCode, []byte("EXIT_CODE: 3")}, {PayloadFlag, MarshalFlag(FlagConnectToPortError)}} {
		pt, p, err := client.Recv()
		if err != nil || pt != want.pt || !bytes.Equal(p, want.p) {
			t.Errorf("client Recv = %v %q %v, want %v %q", pt, p, err, want.pt, want.p)
		}
	}

	// A payload that does not decrypt is an ErrDecrypt; the next one is
	// still delivered.
	if err := rawAgent.Send(PayloadOutput, []byte("plain text, not sealed")); err != nil {
		t.Fatal(err)
	}
	if err := agent.Send(PayloadOutput, []byte("after")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := client.Recv(); !errors.Is(err, ErrDecrypt) {
		t.Errorf("Recv of an unsealed Output = %v, want ErrDecrypt", err)
	}
	if _, p, err := client.Recv(); err != nil || string(p) != "after" {
		t.Errorf("Recv after a decrypt failure = %q, %v", p, err)
	}
}

func TestEncryptionContext(t *testing.T) {
	got := EncryptionContext("s-1", "i-1", "")
	if len(got) != 2 || got["aws:ssm:SessionId"] != "s-1" || got["aws:ssm:TargetId"] != "i-1" {
		t.Errorf("EncryptionContext without challenge = %v", got)
	}
	got = EncryptionContext("s-1", "i-1", "Y2hhbGxlbmdl")
	if len(got) != 3 || got["aws:ssm:RandomChallenge"] != "Y2hhbGxlbmdl" {
		t.Errorf("EncryptionContext with challenge = %v", got)
	}
}

// TestNewKMSClient runs the SDK adapter against a stand-in KMS endpoint
// speaking the KMS JSON protocol.
func TestNewKMSClient(t *testing.T) {
	plain, blob := testDataKey(), []byte("ciphertext-blob")
	var calls []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in map[string]any
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			t.Errorf("request body: %v", err)
		}
		in["target"] = r.Header.Get("X-Amz-Target")
		calls = append(calls, in)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		switch in["target"] {
		case "TrentService.GenerateDataKey":
			if in["KeyId"] == "denied" {
				w.WriteHeader(http.StatusBadRequest)
				w.Write([]byte(`{"__type":"AccessDeniedException","message":"not authorized"}`))
				return
			}
			json.NewEncoder(w).Encode(map[string]any{"KeyId": in["KeyId"], "Plaintext": plain, "CiphertextBlob": blob})
		case "TrentService.Decrypt":
			json.NewEncoder(w).Encode(map[string]any{"Plaintext": plain})
		default:
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	t.Cleanup(srv.Close)
	c := NewKMSClient(kms.New(kms.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		HTTPClient:       srv.Client(),
		RetryMaxAttempts: 1,
	}))
	encCtx := EncryptionContext("s-1", "i-1", "ch")

	gotPlain, gotBlob, err := c.GenerateDataKey(t.Context(), "alias/ssm", encCtx, DataKeySize)
	if err != nil || !bytes.Equal(gotPlain, plain) || !bytes.Equal(gotBlob, blob) {
		t.Fatalf("GenerateDataKey = %x, %q, %v", gotPlain, gotBlob, err)
	}
	in := calls[0]
	if in["KeyId"] != "alias/ssm" || in["NumberOfBytes"] != float64(64) {
		t.Errorf("GenerateDataKey request = %v", in)
	}
	if ec, _ := in["EncryptionContext"].(map[string]any); len(ec) != 3 || ec["aws:ssm:RandomChallenge"] != "ch" {
		t.Errorf("GenerateDataKey EncryptionContext = %v", in["EncryptionContext"])
	}

	got, err := c.Decrypt(t.Context(), blob, encCtx)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Decrypt = %x, %v", got, err)
	}
	if in := calls[1]; in["CiphertextBlob"] != base64.StdEncoding.EncodeToString(blob) || in["EncryptionContext"] == nil {
		t.Errorf("Decrypt request = %v", in)
	}

	_, _, err = c.GenerateDataKey(t.Context(), "denied", encCtx, DataKeySize)
	if !isAPIError(err, "AccessDeniedException") {
		t.Errorf("denied GenerateDataKey = %v, want an AccessDeniedException API error", err)
	}
}
