package protocol

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// KMS encryption of a session (shell and command sessions whose document
// names a kmsKeyId; the agent never encrypts Port sessions):
//
//   - In the handshake the client asks KMS for a 64-byte data key
//     (GenerateDataKey, encryption context below) and hands the agent the
//     encrypted key; the agent decrypts it with the same context.
//   - Key bytes 0..31 are the agent's sending key (the client decrypts
//     with them); bytes 32..63 are the client's sending key.
//   - Each encrypted payload is AES-256-GCM without associated data,
//     laid out as nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes).
//   - After the handshake the agent encrypts the Output, StdErr and
//     ExitCode payloads it sends and decrypts the Output payloads it
//     receives; the client encrypts only Output. Size and Flag payloads
//     stay plain in both directions.

// DataKeySize is the number of bytes of the KMS data key a session uses.
const DataKeySize = 64

// Encryption context keys of the session's data key.
const (
	EncryptionContextSessionID = "aws:ssm:SessionId"
	EncryptionContextTargetID  = "aws:ssm:TargetId"
	// EncryptionContextChallenge holds the agent's random challenge; it
	// is part of the context only when the client acknowledges the
	// challenge (KMSEncryptionResponse.ChallengeAcknowledgement).
	EncryptionContextChallenge = "aws:ssm:RandomChallenge"
)

// Sizes of the AES-GCM wire format.
const (
	gcmNonceSize = 12
	gcmTagSize   = 16
	cipherKeyLen = DataKeySize / 2
)

// KMSClient is the part of AWS KMS a session uses: the client generates
// the data key, the agent decrypts it. Errors are returned as the KMS API
// gave them (for example a smithy.APIError with code
// AccessDeniedException), so callers can explain them.
type KMSClient interface {
	GenerateDataKey(ctx context.Context, keyID string, encCtx map[string]string, numberOfBytes int32) (plaintext, ciphertextBlob []byte, err error)
	Decrypt(ctx context.Context, blob []byte, encCtx map[string]string) ([]byte, error)
}

// NewKMSClient adapts an AWS SDK KMS client. Decrypt names no key id: KMS
// finds the key from the ciphertext (the agent passes the session's key
// id too, which only narrows the same lookup).
func NewKMSClient(c *kms.Client) KMSClient { return sdkKMS{c} }

type sdkKMS struct{ c *kms.Client }

func (k sdkKMS) GenerateDataKey(ctx context.Context, keyID string, encCtx map[string]string, n int32) ([]byte, []byte, error) {
	out, err := k.c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId:             aws.String(keyID),
		NumberOfBytes:     aws.Int32(n),
		EncryptionContext: encCtx,
	})
	if err != nil {
		return nil, nil, err
	}
	return out.Plaintext, out.CiphertextBlob, nil
}

func (k sdkKMS) Decrypt(ctx context.Context, blob []byte, encCtx map[string]string) ([]byte, error) {
	out, err := k.c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: encCtx})
	if err != nil {
		return nil, err
	}
	return out.Plaintext, nil
}

// EncryptionContext returns the KMS encryption context of a session's
// data key; challenge is added when non-empty.
func EncryptionContext(sessionID, targetID, challenge string) map[string]string {
	m := map[string]string{
		EncryptionContextSessionID: sessionID,
		EncryptionContextTargetID:  targetID,
	}
	if challenge != "" {
		m[EncryptionContextChallenge] = challenge
	}
	return m
}

// ErrDecrypt reports a payload that does not decrypt with the session key:
// a wrong key, or data altered in transit.
var ErrDecrypt = errors.New("protocol: payload does not decrypt with the session key")

// Cipher encrypts and decrypts one end's payloads with a session data
// key. It is safe for concurrent use.
type Cipher struct {
	agent bool
	seal  cipher.AEAD // our sending key
	open  cipher.AEAD // the peer's sending key
}

// NewClientCipher returns the client's cipher for a 64-byte data key: it
// seals with bytes 32..63 and opens with bytes 0..31.
func NewClientCipher(dataKey []byte) (*Cipher, error) { return newCipher(dataKey, false) }

// NewAgentCipher returns the agent's cipher for a 64-byte data key: it
// seals with bytes 0..31 and opens with bytes 32..63.
func NewAgentCipher(dataKey []byte) (*Cipher, error) { return newCipher(dataKey, true) }

func newCipher(key []byte, agent bool) (*Cipher, error) {
	if len(key) != DataKeySize {
		return nil, fmt.Errorf("protocol: data key is %d bytes, want %d", len(key), DataKeySize)
	}
	agentKey, err := newGCM(key[:cipherKeyLen])
	if err != nil {
		return nil, err
	}
	clientKey, err := newGCM(key[cipherKeyLen:])
	if err != nil {
		return nil, err
	}
	if agent {
		return &Cipher{agent: true, seal: agentKey, open: clientKey}, nil
	}
	return &Cipher{seal: clientKey, open: agentKey}, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("protocol: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("protocol: %w", err)
	}
	return gcm, nil
}

// Agent reports whether this is the agent's end of the session.
func (c *Cipher) Agent() bool { return c.agent }

// Seal encrypts plaintext with this end's key and a fresh random nonce,
// returning nonce ‖ ciphertext ‖ tag (always at least 28 bytes).
//
// (The agent draws its nonces from a counter with a random start, the
// plugin draws them at random; both are valid for GCM, and the peer
// cannot tell the difference.)
func (c *Cipher) Seal(plaintext []byte) []byte {
	out := make([]byte, gcmNonceSize, gcmNonceSize+len(plaintext)+gcmTagSize)
	rand.Read(out) // never fails
	return c.seal.Seal(out, out, plaintext, nil)
}

// Open decrypts a payload the peer sealed. Failures wrap ErrDecrypt.
func (c *Cipher) Open(sealed []byte) ([]byte, error) {
	if len(sealed) < gcmNonceSize+gcmTagSize {
		return nil, fmt.Errorf("%w (%d bytes, shorter than nonce and tag)", ErrDecrypt, len(sealed))
	}
	plain, err := c.open.Open(nil, sealed[:gcmNonceSize], sealed[gcmNonceSize:], nil)
	if err != nil {
		return nil, ErrDecrypt
	}
	return plain, nil
}

// sealsType reports whether this end encrypts payloads of type pt that it
// sends.
func (c *Cipher) sealsType(pt PayloadType) bool {
	if c.agent {
		return pt == PayloadOutput || pt == PayloadStdErr || pt == PayloadExitCode
	}
	return pt == PayloadOutput
}

// opensType reports whether this end decrypts payloads of type pt that it
// receives.
func (c *Cipher) opensType(pt PayloadType) bool {
	if c.agent {
		return pt == PayloadOutput
	}
	return pt == PayloadOutput || pt == PayloadStdErr || pt == PayloadExitCode
}

// NewEncryptedStream returns ms with this end's payloads encrypted after
// the handshake: Send seals the payload types this end encrypts and Recv
// opens the ones the peer encrypts (see the table at the top of kms.go);
// everything else passes through. A payload that does not decrypt makes
// Recv return an error wrapping ErrDecrypt; the stream stays usable.
func NewEncryptedStream(ms MessageStream, c *Cipher) MessageStream {
	return &encryptedStream{ms: ms, c: c}
}

type encryptedStream struct {
	ms MessageStream
	c  *Cipher
}

func (s *encryptedStream) Send(pt PayloadType, payload []byte) error {
	if s.c.sealsType(pt) {
		payload = s.c.Seal(payload)
		// The agent reads the nonce without a length check; a payload
		// shorter than a nonce would kill its reader. Sealing always adds
		// nonce and tag, so this only guards against future edits.
		if len(payload) < gcmNonceSize+gcmTagSize {
			return fmt.Errorf("protocol: refusing to send a %d-byte encrypted payload", len(payload))
		}
	}
	return s.ms.Send(pt, payload)
}

func (s *encryptedStream) Recv() (PayloadType, []byte, error) {
	pt, p, err := s.ms.Recv()
	if err != nil || !s.c.opensType(pt) {
		return pt, p, err
	}
	plain, err := s.c.Open(p)
	if err != nil {
		return pt, nil, fmt.Errorf("protocol: %v payload: %w", pt, err)
	}
	return pt, plain, nil
}
