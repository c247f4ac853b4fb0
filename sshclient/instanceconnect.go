package sshclient

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2instanceconnect"
	"golang.org/x/crypto/ssh"

	"github.com/ssmssh/ssmssh/ssmclient"
)

// InstanceConnectKeyLifetime is how long the instance accepts a key pushed
// with EC2 Instance Connect: the login must start within it.
const InstanceConnectKeyLifetime = 60 * time.Second

// SendSSHPublicKeyAPI is the part of *ec2instanceconnect.Client that
// PushInstanceConnectKey uses.
type SendSSHPublicKeyAPI interface {
	SendSSHPublicKey(ctx context.Context, in *ec2instanceconnect.SendSSHPublicKeyInput,
		optFns ...func(*ec2instanceconnect.Options)) (*ec2instanceconnect.SendSSHPublicKeyOutput, error)
}

// PushInstanceConnectKey generates a fresh Ed25519 key, pushes its public
// half to the instance for osUser with EC2 Instance Connect's
// SendSSHPublicKey, and returns the signer, to put in Config.ExtraSigners.
// The key is accepted for InstanceConnectKeyLifetime; it lives only in
// memory. AWS errors are explained (see ssmclient.Explain).
func PushInstanceConnectKey(ctx context.Context, api SendSSHPublicKeyAPI, instanceID, osUser string) (ssh.Signer, error) {
	if instanceID == "" || osUser == "" {
		return nil, errors.New("sshclient: EC2 Instance Connect needs an instance id and an OS user")
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("sshclient: generate key: %w", err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, fmt.Errorf("sshclient: %w", err)
	}
	pub := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
	out, err := api.SendSSHPublicKey(ctx, &ec2instanceconnect.SendSSHPublicKeyInput{
		InstanceId:     aws.String(instanceID),
		InstanceOSUser: aws.String(osUser),
		SSHPublicKey:   aws.String(pub),
	})
	if err != nil {
		return nil, fmt.Errorf("sshclient: EC2 Instance Connect: %w", ssmclient.Explain(err))
	}
	if !out.Success {
		return nil, fmt.Errorf("sshclient: EC2 Instance Connect: SendSSHPublicKey to %s for %s did not succeed", instanceID, osUser)
	}
	return signer, nil
}
