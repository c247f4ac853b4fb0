package ssmtest

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
)

const otherKeyID = "0b3c2d1e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"

// twoKeyFleet is the default fleet plus a second KMS key.
func twoKeyFleet(t *testing.T) *Fleet {
	t.Helper()
	def := DefaultFleet()
	f, err := NewFleet(def.Instances(), append(def.KMSKeys(), KMSKey{KeyID: otherKeyID, Aliases: []string{"alias/other"}}))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// sessionContext is the encryption context Session Manager clients use.
func sessionContext(sessionID string) map[string]string {
	return map[string]string{"aws:ssm:SessionId": sessionID, "aws:ssm:TargetId": InstanceUbuntu}
}

func TestKMSRoundTrip(t *testing.T) {
	_, cfg := startServer(t, Options{Fleet: twoKeyFleet(t)})
	c := kms.NewFromConfig(cfg)
	ctx := t.Context()
	keyARN := "arn:aws:kms:us-east-1:123456789012:key/" + DefaultKMSKeyID

	gen, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId: aws.String(DefaultKMSAlias), NumberOfBytes: aws.Int32(64), EncryptionContext: sessionContext("s-1"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(gen.Plaintext) != 64 || len(gen.CiphertextBlob) == 0 || aws.ToString(gen.KeyId) != keyARN {
		t.Fatalf("GenerateDataKey = %d plaintext bytes, key %s", len(gen.Plaintext), aws.ToString(gen.KeyId))
	}
	if bytes.Contains(gen.CiphertextBlob, gen.Plaintext) {
		t.Fatal("ciphertext contains the plaintext")
	}

	for _, keyID := range []string{"", DefaultKMSKeyID, keyARN, DefaultKMSAlias, "arn:aws:kms:us-east-1:123456789012:" + DefaultKMSAlias} {
		in := &kms.DecryptInput{CiphertextBlob: gen.CiphertextBlob, EncryptionContext: sessionContext("s-1")}
		if keyID != "" {
			in.KeyId = aws.String(keyID)
		}
		dec, err := c.Decrypt(ctx, in)
		if err != nil {
			t.Fatalf("Decrypt naming key %q: %v", keyID, err)
		}
		if !bytes.Equal(dec.Plaintext, gen.Plaintext) || aws.ToString(dec.KeyId) != keyARN ||
			dec.EncryptionAlgorithm != kmstypes.EncryptionAlgorithmSpecSymmetricDefault {
			t.Fatalf("Decrypt naming key %q returned other plaintext or key %s", keyID, aws.ToString(dec.KeyId))
		}
	}

	// Any change of encryption context or ciphertext fails.
	var invalid *kmstypes.InvalidCiphertextException
	tampered := bytes.Clone(gen.CiphertextBlob)
	tampered[len(tampered)-1] ^= 1
	for name, in := range map[string]*kms.DecryptInput{
		"other session":  {CiphertextBlob: gen.CiphertextBlob, EncryptionContext: sessionContext("s-2")},
		"no context":     {CiphertextBlob: gen.CiphertextBlob},
		"extra context":  {CiphertextBlob: gen.CiphertextBlob, EncryptionContext: map[string]string{"aws:ssm:SessionId": "s-1", "aws:ssm:TargetId": InstanceUbuntu, "aws:ssm:RandomChallenge": "x"}},
		"tampered blob":  {CiphertextBlob: tampered, EncryptionContext: sessionContext("s-1")},
		"not our format": {CiphertextBlob: []byte("hello"), EncryptionContext: sessionContext("s-1")},
	} {
		if _, err := c.Decrypt(ctx, in); !errors.As(err, &invalid) {
			t.Errorf("%s: %v, want InvalidCiphertextException", name, err)
		}
	}
	var incorrect *kmstypes.IncorrectKeyException
	if _, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: gen.CiphertextBlob, EncryptionContext: sessionContext("s-1"),
		KeyId: aws.String("alias/other")}); !errors.As(err, &incorrect) {
		t.Errorf("Decrypt naming the other key: %v, want IncorrectKeyException", err)
	}

	spec, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(otherKeyID), KeySpec: kmstypes.DataKeySpecAes256})
	if err != nil || len(spec.Plaintext) != 32 {
		t.Fatalf("KeySpec AES_256: %v", err)
	}
	dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: spec.CiphertextBlob})
	if err != nil || !bytes.Equal(dec.Plaintext, spec.Plaintext) || !strings.HasSuffix(aws.ToString(dec.KeyId), otherKeyID) {
		t.Fatalf("round trip with the other key: %v", err)
	}
	_, err = c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(DefaultKMSAlias)})
	apiCode(t, err, "ValidationException")
}

func TestKMSKeyNotFound(t *testing.T) {
	_, cfg := startServer(t, Options{})
	c := kms.NewFromConfig(cfg)
	checks := map[string]string{
		"alias/nope":            "Alias arn:aws:kms:us-east-1:123456789012:alias/nope is not found.",
		otherKeyID:              "Key 'arn:aws:kms:us-east-1:123456789012:key/" + otherKeyID + "' does not exist",
		"not-a-key":             "Invalid keyId not-a-key",
		"arn:aws:kms:eu-west-1": "Invalid arn arn:aws:kms:eu-west-1",
	}
	for keyID, msg := range checks {
		_, err := c.GenerateDataKey(t.Context(), &kms.GenerateDataKeyInput{KeyId: aws.String(keyID), NumberOfBytes: aws.Int32(64)})
		var nf *kmstypes.NotFoundException
		if !errors.As(err, &nf) || aws.ToString(nf.Message) != msg {
			t.Errorf("key %q: %v, want NotFoundException %q", keyID, err, msg)
		}
	}
}

func TestKMSFaults(t *testing.T) {
	s, cfg := startServer(t, Options{})
	c := kms.NewFromConfig(cfg)
	ctx := t.Context()
	gen, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(DefaultKMSAlias), NumberOfBytes: aws.Int32(64)})
	if err != nil {
		t.Fatal(err)
	}
	keyARN := "arn:aws:kms:us-east-1:123456789012:key/" + DefaultKMSKeyID

	s.Faults().KMSDenyGenerateDataKey(true)
	_, err = c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(DefaultKMSAlias), NumberOfBytes: aws.Int32(64)})
	want := "User: " + defaultCallerARN + " is not authorized to perform: kms:GenerateDataKey on resource: " + keyARN +
		" because no identity-based policy allows the kms:GenerateDataKey action"
	if ae := apiCode(t, err, "AccessDeniedException"); ae.ErrorMessage() != want {
		t.Errorf("message %q, want %q", ae.ErrorMessage(), want)
	}
	if _, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: gen.CiphertextBlob}); err != nil {
		t.Errorf("Decrypt while only GenerateDataKey is denied: %v", err)
	}
	s.Faults().KMSDenyGenerateDataKey(false)

	s.Faults().KMSDenyDecrypt(true)
	_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: gen.CiphertextBlob})
	if ae := apiCode(t, err, "AccessDeniedException"); !strings.Contains(ae.ErrorMessage(), "kms:Decrypt") {
		t.Errorf("message %q", ae.ErrorMessage())
	}
	s.Faults().KMSDenyDecrypt(false)

	s.Faults().KMSInvalidKey(true)
	var nf *kmstypes.NotFoundException
	if _, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(DefaultKMSAlias), NumberOfBytes: aws.Int32(64)}); !errors.As(err, &nf) ||
		aws.ToString(nf.Message) != "Invalid keyId "+DefaultKMSAlias {
		t.Errorf("KMSInvalidKey: %v", err)
	}
	s.Faults().KMSInvalidKey(false)

	if _, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: gen.CiphertextBlob}); err != nil {
		t.Errorf("Decrypt after clearing the faults: %v", err)
	}
}

func TestKMSDescribeKey(t *testing.T) {
	_, cfg := startServer(t, Options{})
	out, err := kms.NewFromConfig(cfg).DescribeKey(t.Context(), &kms.DescribeKeyInput{KeyId: aws.String(DefaultKMSAlias)})
	if err != nil {
		t.Fatal(err)
	}
	m := out.KeyMetadata
	if aws.ToString(m.KeyId) != DefaultKMSKeyID || aws.ToString(m.Arn) != "arn:aws:kms:us-east-1:123456789012:key/"+DefaultKMSKeyID ||
		!m.Enabled || m.KeyState != kmstypes.KeyStateEnabled || m.KeyUsage != kmstypes.KeyUsageTypeEncryptDecrypt ||
		m.KeySpec != kmstypes.KeySpecSymmetricDefault || aws.ToString(m.AWSAccountId) != "123456789012" || m.CreationDate == nil {
		t.Errorf("KeyMetadata = %+v", m)
	}
}
