package broker

// Transaction version 2 (KIP-890 part 2) on the produce path: a client of
// that version (produce v12+) never sends AddPartitionsToTxn; the
// partition leader adds the partition to the producer's transaction where
// version 1 only verifies it (txn_verify.go), with AddPartitionsToTxn v5
// not VerifyOnly, in process when this broker coordinates the id
// (TxnAdder). As in Kafka, the add happens even with
// transaction.partition.verification.enable=false: it is how the
// partition joins the transaction.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TxnAdder is this broker's transaction coordinator adding partitions
// for produces of transaction version 2.
type TxnAdder interface {
	// AddTxnPartitions answers a batched (v4+) AddPartitionsToTxn
	// request whose transactions are not VerifyOnly, for the ids this
	// broker coordinates; it waits for the additions to be written.
	AddTxnPartitions(ctx context.Context, r *kmsg.AddPartitionsToTxnRequest) *kmsg.AddPartitionsToTxnResponse
}

// addsPartitions reports whether a produce of this version adds its
// partitions to the transaction (transaction version 2) rather than
// having them verified.
func addsPartitions(produceVersion int16) bool { return produceVersion >= 12 }
