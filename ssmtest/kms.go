package ssmtest

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The KMS operations (JSON 1.1, target prefix TrentService): the part of
// KMS that Session Manager encryption uses.
//
// Ciphertext blobs are the emulator's own format, opaque to callers:
//
//	magic "SSMTKMS1" (8) | key id (36, ASCII UUID) | nonce (12) | AES-256-GCM sealed plaintext
//
// sealed with the key's master secret (random per server), with the
// canonical encryption context (JSON object, keys sorted) as additional
// data, so Decrypt succeeds only with the same context.
func (s *Server) kmsOps() map[string]jsonOp {
	return map[string]jsonOp{
		"TrentService.GenerateDataKey": op(s.kmsGenerateDataKey),
		"TrentService.Decrypt":         op(s.kmsDecrypt),
		"TrentService.DescribeKey":     op(s.kmsDescribeKey),
	}
}

const blobMagic = "SSMTKMS1"

// KMS key states of the fleet's keys (KMSKey.KeyState).
const (
	KeyEnabled         = "Enabled"
	KeyDisabled        = "Disabled"
	KeyPendingDeletion = "PendingDeletion"
)

var keyStates = []string{KeyEnabled, KeyDisabled, KeyPendingDeletion}

// SetKMSKeyState changes the state of a fleet key (KeyEnabled,
// KeyDisabled, KeyPendingDeletion) while the server runs.
func (f *Fleet) SetKMSKeyState(keyID, state string) error {
	if !slices.Contains(keyStates, state) {
		return fmt.Errorf("ssmtest: fleet: unknown KMS key state %q", state)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.keys {
		if f.keys[i].KeyID == keyID {
			f.keys[i].KeyState = state
			return nil
		}
	}
	return fmt.Errorf("ssmtest: fleet: no KMS key %s", keyID)
}

// keyState is the current state of a fleet key.
func (f *Fleet) keyState(keyID string) string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for _, k := range f.keys {
		if k.KeyID == keyID {
			return k.KeyState
		}
	}
	return KeyEnabled
}

// usable fails as KMS does for a key that cannot encrypt or decrypt now:
// DisabledException for a disabled key, KMSInvalidStateException for one
// pending deletion.
func (k *kmsService) usable(key *kmsKey) error {
	switch k.s.fleet.keyState(key.KeyID) {
	case KeyDisabled:
		return apiErr("DisabledException", "%s is disabled.", k.keyARN(key.KeyID))
	case KeyPendingDeletion:
		return apiErr("KMSInvalidStateException", "%s is pending deletion.", k.keyARN(key.KeyID))
	}
	return nil
}

type kmsService struct {
	s       *Server
	keys    map[string]*kmsKey // by key id
	aliases map[string]string  // alias/… → key id
}

type kmsKey struct {
	KMSKey
	aead cipher.AEAD
}

func newKMSService(s *Server) *kmsService {
	k := &kmsService{s: s, keys: make(map[string]*kmsKey), aliases: make(map[string]string)}
	for _, key := range s.fleet.KMSKeys() {
		secret := make([]byte, 32)
		_, _ = rand.Read(secret)
		block, _ := aes.NewCipher(secret)
		aead, _ := cipher.NewGCM(block)
		k.keys[key.KeyID] = &kmsKey{KMSKey: key, aead: aead}
		for _, a := range key.Aliases {
			k.aliases[a] = key.KeyID
		}
	}
	return k
}

func (k *kmsService) keyARN(id string) string {
	return fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", k.s.region, k.s.account, id)
}

// resolve finds the key named by a KeyId parameter: a key id, key ARN,
// alias name or alias ARN. The errors are those KMS gives.
func (k *kmsService) resolve(c *call, ref string) (*kmsKey, error) {
	if c.faults.KMSInvalidKey {
		return nil, apiErr("NotFoundException", "Invalid keyId %s", ref)
	}
	arnPrefix := fmt.Sprintf("arn:aws:kms:%s:%s:", k.s.region, k.s.account)
	name := ref
	if rest, ok := strings.CutPrefix(ref, arnPrefix); ok {
		name = rest
		if id, ok := strings.CutPrefix(rest, "key/"); ok {
			name = id
		} else if !strings.HasPrefix(rest, "alias/") {
			return nil, apiErr("NotFoundException", "Invalid arn %s", ref)
		}
	} else if strings.HasPrefix(ref, "arn:") {
		return nil, apiErr("NotFoundException", "Invalid arn %s", ref)
	}
	if strings.HasPrefix(name, "alias/") {
		id, ok := k.aliases[name]
		if !ok {
			return nil, apiErr("NotFoundException", "Alias %s%s is not found.", arnPrefix, name)
		}
		return k.keys[id], nil
	}
	if !uuidPattern.MatchString(name) {
		return nil, apiErr("NotFoundException", "Invalid keyId %s", ref)
	}
	key, ok := k.keys[name]
	if !ok {
		return nil, apiErr("NotFoundException", "Key '%s' does not exist", k.keyARN(name))
	}
	return key, nil
}

// canonicalContext is the additional data binding a blob to its
// encryption context: JSON with sorted keys ({} when empty).
func canonicalContext(ctx map[string]string) []byte {
	if ctx == nil {
		ctx = map[string]string{}
	}
	b, _ := json.Marshal(ctx) // encoding/json sorts map keys
	return b
}

type generateDataKeyInput struct {
	KeyID             string `json:"KeyId"`
	NumberOfBytes     int
	KeySpec           string
	EncryptionContext map[string]string
	GrantTokens       []string
	DryRun            bool
}

func (s *Server) kmsGenerateDataKey(c *call, in *generateDataKeyInput) (any, error) {
	key, err := s.kms.resolve(c, in.KeyID)
	if err != nil {
		return nil, err
	}
	if c.faults.KMSDenyGenerateDataKey || c.denied(c.iamAction()) {
		return nil, c.accessDenied(s.kms.keyARN(key.KeyID))
	}
	if err := s.kms.usable(key); err != nil {
		return nil, err
	}
	n := in.NumberOfBytes
	switch {
	case n != 0 && in.KeySpec != "":
		return nil, apiErr("ValidationException", "Please specify either number of bytes or key spec.")
	case in.KeySpec == "AES_256":
		n = 32
	case in.KeySpec == "AES_128":
		n = 16
	case in.KeySpec != "":
		return nil, validationErr(in.KeySpec, "keySpec", "Member must satisfy enum value set: [AES_256, AES_128]")
	case n == 0:
		return nil, apiErr("ValidationException", "Please specify either number of bytes or key spec.")
	case n < 1 || n > 1024:
		return nil, validationErr(fmt.Sprint(n), "numberOfBytes", "Member must have value between 1 and 1024")
	}
	if in.DryRun {
		return nil, apiErr("DryRunOperationException", "The request would have succeeded, but the DryRun option is set.")
	}
	plain := make([]byte, n)
	_, _ = rand.Read(plain)
	return struct {
		CiphertextBlob []byte
		Plaintext      []byte
		KeyID          string `json:"KeyId"`
	}{key.seal(plain, in.EncryptionContext), plain, s.kms.keyARN(key.KeyID)}, nil
}

func (key *kmsKey) seal(plain []byte, ctx map[string]string) []byte {
	nonce := make([]byte, key.aead.NonceSize())
	_, _ = rand.Read(nonce)
	blob := append([]byte(blobMagic+key.KeyID), nonce...)
	return key.aead.Seal(blob, nonce, plain, canonicalContext(ctx))
}

type decryptInput struct {
	CiphertextBlob      []byte
	EncryptionContext   map[string]string
	KeyID               string `json:"KeyId"`
	EncryptionAlgorithm string
	GrantTokens         []string
	DryRun              bool
}

func (s *Server) kmsDecrypt(c *call, in *decryptInput) (any, error) {
	if in.KeyID != "" || c.faults.KMSInvalidKey {
		if _, err := s.kms.resolve(c, in.KeyID); err != nil {
			return nil, err
		}
	}
	if in.EncryptionAlgorithm != "" && in.EncryptionAlgorithm != "SYMMETRIC_DEFAULT" {
		return nil, apiErr("InvalidKeyUsageException", "The encryption algorithm %s is not compatible with the key.", in.EncryptionAlgorithm)
	}
	// KMS answers InvalidCiphertextException without a message.
	invalid := &APIError{Code: "InvalidCiphertextException"}
	blob := in.CiphertextBlob
	const idLen = 36
	if len(blob) < len(blobMagic)+idLen || !bytes.HasPrefix(blob, []byte(blobMagic)) {
		return nil, invalid
	}
	key := s.kms.keys[string(blob[len(blobMagic):len(blobMagic)+idLen])]
	if key == nil {
		return nil, invalid
	}
	if in.KeyID != "" {
		if named, _ := s.kms.resolve(c, in.KeyID); named != key {
			return nil, apiErr("IncorrectKeyException", "The key ID in the request does not identify a CMK that can perform this operation.")
		}
	}
	if c.faults.KMSDenyDecrypt || c.denied(c.iamAction()) {
		return nil, c.accessDenied(s.kms.keyARN(key.KeyID))
	}
	if err := s.kms.usable(key); err != nil {
		return nil, err
	}
	rest := blob[len(blobMagic)+idLen:]
	ns := key.aead.NonceSize()
	if len(rest) < ns {
		return nil, invalid
	}
	plain, err := key.aead.Open(nil, rest[:ns], rest[ns:], canonicalContext(in.EncryptionContext))
	if err != nil {
		return nil, invalid
	}
	if in.DryRun {
		return nil, apiErr("DryRunOperationException", "The request would have succeeded, but the DryRun option is set.")
	}
	return struct {
		KeyID               string `json:"KeyId"`
		Plaintext           []byte
		EncryptionAlgorithm string
	}{s.kms.keyARN(key.KeyID), plain, "SYMMETRIC_DEFAULT"}, nil
}

type describeKeyInput struct {
	KeyID string `json:"KeyId"`
}

func (s *Server) kmsDescribeKey(c *call, in *describeKeyInput) (any, error) {
	key, err := s.kms.resolve(c, in.KeyID)
	if err != nil {
		return nil, err
	}
	if err := c.checkDenied(s.kms.keyARN(key.KeyID)); err != nil {
		return nil, err
	}
	type keyMetadata struct {
		AWSAccountID          string `json:"AWSAccountId"`
		KeyID                 string `json:"KeyId"`
		Arn                   string
		CreationDate          *epochTime
		Enabled               bool
		Description           string
		KeyUsage              string
		KeyState              string
		Origin                string
		KeyManager            string
		CustomerMasterKeySpec string
		KeySpec               string
		EncryptionAlgorithms  []string
		MultiRegion           bool
		DeletionDate          *epochTime `json:",omitempty"`
	}
	state := s.fleet.keyState(key.KeyID)
	md := keyMetadata{
		AWSAccountID: s.account, KeyID: key.KeyID, Arn: s.kms.keyARN(key.KeyID),
		CreationDate: epoch(defaultLaunch), Enabled: state == KeyEnabled, Description: key.Description,
		KeyUsage: "ENCRYPT_DECRYPT", KeyState: state, Origin: "AWS_KMS", KeyManager: "CUSTOMER",
		CustomerMasterKeySpec: "SYMMETRIC_DEFAULT", KeySpec: "SYMMETRIC_DEFAULT",
		EncryptionAlgorithms: []string{"SYMMETRIC_DEFAULT"},
	}
	if state == KeyPendingDeletion {
		md.DeletionDate = epoch(c.now.Add(7 * 24 * time.Hour).Truncate(time.Second))
	}
	return struct{ KeyMetadata keyMetadata }{md}, nil
}
