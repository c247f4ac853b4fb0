package protocol

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/aws/smithy-go"
)

// fakeKMS is a KMSClient doing real envelope encryption in memory: each
// key is an AES-256 master key, and a ciphertext blob is
// keyID ‖ 0 ‖ nonce ‖ AES-GCM(data key) with the canonical encryption
// context as associated data, so Decrypt fails unless the context matches
// exactly, as with KMS.
type fakeKMS struct {
	mu          sync.Mutex
	keys        map[string]cipher.AEAD
	denyGen     bool // GenerateDataKey answers AccessDeniedException
	denyDecrypt bool // Decrypt answers AccessDeniedException
	genCalls    []map[string]string
	decCalls    []map[string]string
}

func newFakeKMS(keyIDs ...string) *fakeKMS {
	k := &fakeKMS{keys: map[string]cipher.AEAD{}}
	for _, id := range keyIDs {
		master := make([]byte, 32)
		rand.Read(master)
		block, _ := aes.NewCipher(master)
		k.keys[id], _ = cipher.NewGCM(block)
	}
	return k
}

func canonicalContext(m map[string]string) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%q=%q;", k, m[k])
	}
	return []byte(b.String())
}

func apiError(code, msg string) error {
	return &smithy.GenericAPIError{Code: code, Message: msg, Fault: smithy.FaultClient}
}

func (k *fakeKMS) GenerateDataKey(_ context.Context, keyID string, encCtx map[string]string, n int32) ([]byte, []byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.genCalls = append(k.genCalls, encCtx)
	if k.denyGen {
		return nil, nil, apiError("AccessDeniedException", "User is not authorized to perform: kms:GenerateDataKey")
	}
	master, ok := k.keys[keyID]
	if !ok {
		return nil, nil, apiError("NotFoundException", "Invalid keyId "+keyID)
	}
	plain := make([]byte, n)
	rand.Read(plain)
	blob := append([]byte(keyID), 0)
	nonce := make([]byte, master.NonceSize())
	rand.Read(nonce)
	blob = append(blob, nonce...)
	blob = master.Seal(blob, nonce, plain, canonicalContext(encCtx))
	return plain, blob, nil
}

func (k *fakeKMS) Decrypt(_ context.Context, blob []byte, encCtx map[string]string) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.decCalls = append(k.decCalls, encCtx)
	if k.denyDecrypt {
		return nil, apiError("AccessDeniedException", "User is not authorized to perform: kms:Decrypt")
	}
	invalid := apiError("InvalidCiphertextException", "")
	i := slices.Index(blob, 0)
	if i < 0 {
		return nil, invalid
	}
	master, ok := k.keys[string(blob[:i])]
	if !ok {
		return nil, invalid
	}
	rest := blob[i+1:]
	if len(rest) < master.NonceSize() {
		return nil, invalid
	}
	plain, err := master.Open(nil, rest[:master.NonceSize()], rest[master.NonceSize():], canonicalContext(encCtx))
	if err != nil {
		return nil, invalid
	}
	return plain, nil
}

func (k *fakeKMS) calls() (gen, dec []map[string]string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.genCalls), slices.Clone(k.decCalls)
}

// isAPIError reports whether err carries a KMS API error with this code.
func isAPIError(err error, code string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == code
}
