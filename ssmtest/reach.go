package ssmtest

import (
	"context"

	"github.com/ssmssh/ssmssh/protocol"
)

// instanceKMS is a built-in agent's KMS client: an instance marked
// KMSUnreachable in the fleet cannot reach the KMS endpoint, so its calls
// hang until the caller gives up (the agent's handshake deadline), as the
// real agent's do when no route or VPC endpoint leads to KMS. The fleet is
// read at each call, so tests may cut and restore the route at run time.
type instanceKMS struct {
	s    *Server
	id   string
	next protocol.KMSClient
}

func (k *instanceKMS) unreachable() bool {
	in, ok := k.s.fleet.Instance(k.id)
	return ok && in.KMSUnreachable
}

func (k *instanceKMS) hang(ctx context.Context) error {
	k.s.logf("ssmtest: agent %s: KMS unreachable: the call hangs", k.id)
	<-ctx.Done()
	return ctx.Err()
}

func (k *instanceKMS) GenerateDataKey(ctx context.Context, keyID string, encCtx map[string]string, n int32) ([]byte, []byte, error) {
	if k.unreachable() {
		return nil, nil, k.hang(ctx)
	}
	return k.next.GenerateDataKey(ctx, keyID, encCtx, n)
}

func (k *instanceKMS) Decrypt(ctx context.Context, blob []byte, encCtx map[string]string) ([]byte, error) {
	if k.unreachable() {
		return nil, k.hang(ctx)
	}
	return k.next.Decrypt(ctx, blob, encCtx)
}
