package main

// More soak churn: identifiers a long-running cluster sees come and go
// besides topics and groups. Each round creates a SCRAM user and deletes
// it (which deletes its /config/users znode), sets a producer quota on a
// new client id and removes it, and ends a transaction under a new
// transactional id. None of these may leave a watch, a goroutine or a
// series behind on any broker (only the transactional ids are kept, until
// transactional.id.expiration.ms).

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// soakIdentityChurn runs until ctx ends, one round about every 200 ms,
// and prints how many rounds it made.
func soakIdentityChurn(ctx context.Context, adm *kadm.Client, seeds []string) {
	var rounds atomic.Int64
	defer func() {
		fmt.Printf("  identity churn: %d rounds (users, client quotas, transactional ids)\n", rounds.Load())
	}()
	for i := 0; sleepCtx(ctx, 200*time.Millisecond); i++ {
		user := fmt.Sprintf("soak-user-%d", i)
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		adm.AlterUserSCRAMs(rctx, nil, []kadm.UpsertSCRAM{{User: user, Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "soak"}})
		adm.AlterUserSCRAMs(rctx, []kadm.DeleteSCRAM{{User: user, Mechanism: kadm.ScramSha256}}, nil)
		client := fmt.Sprintf("soak-client-%d", i)
		entity := kadm.ClientQuotaEntity{{Type: "client-id", Name: &client}}
		adm.AlterClientQuotas(rctx, []kadm.AlterClientQuotaEntry{{Entity: entity, Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 1 << 20}}}})
		adm.AlterClientQuotas(rctx, []kadm.AlterClientQuotaEntry{{Entity: entity, Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Remove: true}}}})
		cancel()
		if i%5 == 0 {
			cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ClientID(client), kgo.DefaultProduceTopic("soak-txn"),
				kgo.TransactionalID(fmt.Sprintf("soak-txn-%d", i)))
			if err == nil {
				tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				if cl.BeginTransaction() == nil {
					cl.ProduceSync(tctx, &kgo.Record{Value: []byte("c")})
					cl.EndTransaction(tctx, kgo.TryCommit)
				}
				cancel()
				cl.Close()
			}
		}
		rounds.Add(1)
	}
}
