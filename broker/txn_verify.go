package broker

// Transaction verification on the partition leader (KIP-890 part 1, as
// Kafka 3.6+ does it in ReplicaManager and UnifiedLog).
//
// A transactional batch opens a transaction on its partition: until a
// marker ends it, the last stable offset stays below it and
// read_committed consumers wait. Only the transaction coordinator writes
// markers, and only for partitions added to the transaction, so a batch
// written for a transaction the coordinator does not know would hold the
// partition back for good. Before writing the first transactional batch
// of a producer that has no transaction open on the partition, the leader
// therefore asks the coordinator of the request's transactional id
// whether the partition is in the producer's ongoing transaction
// (AddPartitionsToTxn v4+ with VerifyOnly; in process when this broker
// coordinates the id). Once a batch is written the open transaction
// stands for it, and later batches need no verification.
//
// The answer is cached in the partition's producer state
// (txnVerification). The entry is made before the coordinator is asked
// and marked verified when it says yes, only if it is still the same
// entry (refused, it stays, to be asked again); the producer's next
// transactional batch or marker drops it, or it expires with
// producer.id.expiration.ms. It keeps the lowest sequence asked about:
// a batch above it waits (OUT_OF_ORDER_SEQUENCE_NUMBER) for the one
// below, as Kafka's VerificationStateEntry.
// appendBatches checks it under the partition lock (producerState.check),
// so a marker that ends the transaction between the answer and the append
// makes the append fail rather than open a transaction nobody will end
// (Kafka's VerificationGuard).
//
// The errors, as Kafka's produce answers them:
//   - a request with transactional batches and no transactional id (any
//     produce before v3): TRANSACTIONAL_ID_AUTHORIZATION_FAILED for every
//     partition; transactional batches of more than one producer:
//     INVALID_PRODUCER_ID_MAPPING for every partition;
//   - the partition is not in the transaction: INVALID_TXN_STATE, or
//     TRANSACTION_ABORTABLE from produce v11 on (KIP-890);
//   - an unknown transactional id or another producer id:
//     INVALID_PRODUCER_ID_MAPPING; another epoch: INVALID_PRODUCER_EPOCH;
//   - the coordinator cannot answer now (moving, loading, unreachable, or
//     the transaction is being committed): NOT_ENOUGH_REPLICAS, which
//     every client retries without a metadata refresh; from produce v12
//     on (transaction version 2, where the leader adds the partition),
//     an add refused because the previous transaction is still being
//     completed is asked again for up to 100 ms
//     (add.partitions.to.txn.retry.backoff.max.ms), and then answered
//     CONCURRENT_TRANSACTIONS, as Kafka 4.0 does;
//   - the transaction ended between the answer and the append:
//     INVALID_TXN_STATE.
//
// Idempotent, non-transactional batches are not verified: Kafka accepts
// any producer id >= 0 it has not seen (a new or expired producer; it
// keeps no list of allocated ids), and a producer id below -1 makes a
// batch neither idempotent nor transactional (RecordBatch.hasProducerId),
// so it opens no transaction. Gregor does the same.
//
// transaction.partition.verification.enable=false turns verification
// off (as in Kafka); the produce then marks its entries verified itself.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/records"
)

// TxnVerifier is this broker's transaction coordinator, as the produce
// path asks it (the coordinator package implements it; cmd/gregor wires
// it, so this package does not import that one).
type TxnVerifier interface {
	// TxnPartitionFor is the __transaction_state partition coordinating
	// a transactional id (-1 if there is none).
	TxnPartitionFor(transactionalID string) int32
	// VerifyTxn answers a verify-only AddPartitionsToTxn v4+ request
	// for the ids this broker coordinates, without blocking.
	VerifyTxn(r *kmsg.AddPartitionsToTxnRequest) *kmsg.AddPartitionsToTxnResponse
}

// txnVerifier holds the broker's TxnVerifier and the connections it
// keeps to other brokers' coordinators.
type txnVerifier struct {
	v atomic.Pointer[TxnVerifier]

	mu sync.Mutex
	// guarded by mu:
	idle   map[int32][]*peerConn // by broker id, at most maxIdleVerifyConns each
	closed bool
}

// maxIdleVerifyConns bounds the idle connections kept to one broker; one
// is used by one verification at a time.
const maxIdleVerifyConns = 4

// take returns an idle connection to broker id, or nil.
func (tv *txnVerifier) take(id int32) *peerConn {
	tv.mu.Lock()
	defer tv.mu.Unlock()
	cs := tv.idle[id]
	if len(cs) == 0 {
		return nil
	}
	c := cs[len(cs)-1]
	tv.idle[id] = cs[:len(cs)-1]
	return c
}

// put keeps a connection that answered for the next verification.
func (tv *txnVerifier) put(c *peerConn) {
	tv.mu.Lock()
	defer tv.mu.Unlock()
	if tv.closed || len(tv.idle[c.id]) >= maxIdleVerifyConns {
		c.close()
		return
	}
	if tv.idle == nil {
		tv.idle = make(map[int32][]*peerConn)
	}
	tv.idle[c.id] = append(tv.idle[c.id], c)
}

// close closes the idle connections; later ones are not kept.
func (tv *txnVerifier) close() {
	tv.mu.Lock()
	defer tv.mu.Unlock()
	tv.closed = true
	for _, cs := range tv.idle {
		for _, c := range cs {
			c.close()
		}
	}
	tv.idle = nil
}

// verifyRemote sends a verification to broker id on a kept connection,
// or a new one; a kept connection that fails (closed while idle) is
// replaced once.
func (b *Broker) verifyRemote(ctx context.Context, id int32, req kmsg.Request) (kmsg.Response, error) {
	for {
		c := b.verifier.take(id)
		kept := c != nil
		if !kept {
			var err error
			if c, err = b.dialPeer(ctx, id); err != nil {
				return nil, err
			}
		}
		resp, err := c.request(ctx, req)
		if err == nil {
			b.verifier.put(c)
			return resp, nil
		}
		c.close()
		if !kept || ctx.Err() != nil {
			return nil, err
		}
	}
}

// SetTxnVerifier installs the transaction coordinator the produce path
// verifies transactional batches with. Without one, verification is off.
func (b *Broker) SetTxnVerifier(v TxnVerifier) { b.verifier.v.Store(&v) }

// verifyTimeout bounds a verification: the produce waits for it on the
// connection's read path (as Kafka handles one request per connection at
// a time), so it must not wait for long.
const verifyTimeout = 5 * time.Second

// txnVerification is a producer's verification on one partition; the
// partition's lock guards it.
type txnVerification struct {
	epoch     int16
	verified  bool
	createdMs int64
	// lowestSeq is the lowest first sequence of the producer's batches
	// verified, or being verified, at epoch. A batch above it is
	// OUT_OF_ORDER_SEQUENCE_NUMBER until a batch is written, as with
	// Kafka's VerificationStateEntry.lowestSequence: a batch whose
	// verification failed (retriably) is not overtaken by the next one,
	// which the partition would otherwise take as the first of a
	// producer it does not know.
	lowestSeq int32
}

// errTxnNotVerified refuses a transactional batch for which no open
// transaction or verification stands.
var errTxnNotVerified = fmt.Errorf("%w: Record was not part of an ongoing transaction", kerr.InvalidTxnState)

// checkVerified refuses a client's transactional batch from a producer
// with no transaction open here unless the coordinator verified it.
// Coordinator writes (no sequence) and markers are not checked.
func (ps *producerState) checkVerified(h *records.Header) error {
	if !h.IsTransactional() || h.IsControl() || h.BaseSequence < 0 {
		return nil
	}
	if ps.ongoing(h.ProducerID, h.ProducerEpoch) {
		return nil
	}
	if v := ps.verifying[h.ProducerID]; v != nil && v.verified && v.epoch == h.ProducerEpoch {
		return nil
	}
	return errTxnNotVerified
}

// duplicateOf returns the written batch h repeats, if any.
func (ps *producerState) duplicateOf(h *records.Header) *batchMeta {
	e := ps.producers[h.ProducerID]
	if e == nil || e.Epoch != h.ProducerEpoch {
		return nil
	}
	for i := range e.Batches {
		if b := &e.Batches[i]; b.FirstSeq == h.BaseSequence && b.LastSeq == h.LastSequence() {
			return b
		}
	}
	return nil
}

// ongoing reports whether pid has a transaction open here at epoch, as
// Kafka's UnifiedLog.hasOngoingTransaction(producerId, producerEpoch): a
// batch at a newer epoch (transaction version 2 bumps the epoch at every
// commit or abort) belongs to the next transaction, whose partition the
// coordinator must add, even while the previous one's marker is still on
// its way here. Taken for part of the open transaction, it was written
// without the coordinator being asked, and the previous transaction's
// marker, arriving next, ended both: the new transaction's records were
// committed (or aborted) with the old one.
func (ps *producerState) ongoing(pid int64, epoch int16) bool {
	e := ps.producers[pid]
	return e != nil && e.TxnFirstOffset >= 0 && e.Epoch == epoch
}

// startVerification returns the verification to complete before pid's
// transactional batch at epoch, from sequence seq, is written, or nil if
// none is needed: a transaction is open, or one is verified at this
// epoch. The entry keeps the lowest sequence it is asked for.
func (ps *producerState) startVerification(pid int64, epoch int16, seq int32, nowMs int64) *txnVerification {
	if ps.ongoing(pid, epoch) {
		return nil
	}
	v := ps.verifying[pid]
	if v != nil && v.epoch == epoch {
		v.lowestSeq = min(v.lowestSeq, seq)
		if v.verified {
			return nil
		}
		return v
	}
	if ps.verifying == nil {
		ps.verifying = make(map[int64]*txnVerification)
	}
	v = &txnVerification{epoch: epoch, createdMs: nowMs, lowestSeq: seq}
	ps.verifying[pid] = v
	return v
}

// endVerification applies the coordinator's answer to v, if v is still
// pid's entry: marked verified, or, refused, left to be asked again (with
// its lowest sequence), as Kafka keeps a VerificationStateEntry until a
// batch or marker is written or it expires.
func (ps *producerState) endVerification(pid int64, v *txnVerification, ok bool) {
	if ps.verifying[pid] == v && ok {
		v.verified = true
	}
}

// checkLowestSequence refuses a client's batch whose sequence is above
// the lowest of a verification under way or done for its producer (Kafka's
// ProducerAppendInfo.checkSequence).
func (ps *producerState) checkLowestSequence(h *records.Header) error {
	if v := ps.verifying[h.ProducerID]; v != nil && h.BaseSequence > v.lowestSeq {
		return fmt.Errorf("%w: Out of order sequence number for producer %d: %d (incoming seq. number), %d (earliest seen sequence)",
			kerr.OutOfOrderSequenceNumber, h.ProducerID, h.BaseSequence, v.lowestSeq)
	}
	return nil
}

// expireVerifications drops entries made before cutoffMs.
func (ps *producerState) expireVerifications(cutoffMs int64) {
	for pid, v := range ps.verifying {
		if v.createdMs < cutoffMs {
			delete(ps.verifying, pid)
		}
	}
}

// startTxnVerification is startVerification under the partition's lock;
// nil also when the partition has no log here.
func (p *Partition) startTxnVerification(pid int64, epoch int16, seq int32) *txnVerification {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.producer == nil {
		return nil
	}
	return p.producer.startVerification(pid, epoch, seq, p.b.now().UnixMilli())
}

// endTxnVerification is endVerification under the partition's lock.
func (p *Partition) endTxnVerification(pid int64, v *txnVerification, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.producer != nil {
		p.producer.endVerification(pid, v, ok)
	}
}

// txnProducer is the one producer whose transactional batches a produce
// request carries.
type txnProducer struct {
	id    int64
	epoch int16
}

// produceTxnCheck finds the request's transactional producer and refuses
// the request as a whole as Kafka does: transactional batches without a
// transactional id, or of more than one producer. ok is false when there
// are no transactional batches to verify.
//
// As Kafka's ReplicaManager.handleProduceAppend, the producers are counted
// over every partition that got that far, led here or not: the batches of
// a partition not led here are read from the request as they are.
func produceTxnCheck(r *kmsg.ProduceRequest, parts []producePart) (tp txnProducer, ok bool, err error) {
	seen := false
	check := func(h *records.Header) error {
		if !h.IsTransactional() {
			return nil
		}
		if r.TransactionID == nil {
			return fmt.Errorf("%w: transactional records in a produce request without a transactional id", kerr.TransactionalIDAuthorizationFailed)
		}
		if !h.HasProducerID() {
			return nil
		}
		if seen && (h.ProducerID != tp.id || h.ProducerEpoch != tp.epoch) {
			return &produceError{kerr.InvalidProducerIDMapping, "Transactional records contained more than one producer ID"}
		}
		tp, seen = txnProducer{h.ProducerID, h.ProducerEpoch}, true
		return nil
	}
	for i := range parts {
		pp := &parts[i]
		if pp.pb != nil {
			for j := range pp.pb.headers {
				if err := check(&pp.pb.headers[j]); err != nil {
					return tp, false, err
				}
			}
			continue
		}
		if !pp.replicaManager || pp.rp == nil {
			continue
		}
		// Not prepared (not led here): the headers as sent, up to the
		// first that does not parse (only its leader validates it).
		var failed error
		records.Split(pp.rp.Records, func(batch []byte) error {
			h, err := records.ParseHeader(batch)
			if err != nil || h.Magic != 2 {
				return errStopSplit
			}
			failed = check(&h)
			if failed != nil {
				return errStopSplit
			}
			return nil
		})
		if failed != nil {
			return tp, false, failed
		}
	}
	return tp, seen, nil
}

// errStopSplit ends a records.Split early.
var errStopSplit = errors.New("stop")

// verifyProduce verifies the transactional batches of a produce request
// before they are appended, setting the errors of the partitions that
// fail. It returns an error for the request as a whole.
func (b *Broker) verifyProduce(ctx context.Context, version int16, r *kmsg.ProduceRequest, parts []producePart) error {
	tp, ok, err := produceTxnCheck(r, parts)
	if err != nil || !ok {
		return err
	}
	vp := b.verifier.v.Load()
	off := vp == nil || !b.Config().TxnPartitionVerification && !addsPartitions(version)
	var need []*producePart
	for i := range parts {
		pp := &parts[i]
		if pp.err != nil || !pp.transactional() {
			continue
		}
		// Verification off, no sequence bounds what follows (Kafka
		// keeps no verification state then).
		seq := int32(math.MaxInt32)
		if !off {
			seq = pp.pb.headers[0].BaseSequence
		}
		if pp.verification = pp.p.startTxnVerification(tp.id, tp.epoch, seq); pp.verification != nil {
			need = append(need, pp)
		}
	}
	if len(need) == 0 {
		return nil
	}
	if off {
		for _, pp := range need {
			pp.p.endTxnVerification(tp.id, pp.verification, true)
		}
		return nil
	}
	timeout := verifyTimeout
	if t := time.Duration(r.TimeoutMillis) * time.Millisecond; t > 0 {
		timeout = min(timeout, t)
	}
	vctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	codes := b.askTxnCoordinator(vctx, *vp, *r.TransactionID, tp, need, !addsPartitions(version))
	if addsPartitions(version) {
		b.retryConcurrentAdds(vctx, *vp, *r.TransactionID, tp, need, codes)
	}
	for i, pp := range need {
		if pp.verification != nil {
			pp.p.endTxnVerification(tp.id, pp.verification, codes[i] == 0)
		}
		if codes[i] != 0 {
			pp.err = produceVerifyError(codes[i], version)
		}
	}
	return nil
}

// retryConcurrentAdds asks the coordinator again, as Kafka 4.0's
// ReplicaManager does, to add the partitions it answered
// CONCURRENT_TRANSACTIONS (transaction version 2): the producer's previous
// transaction is still being completed (its markers written), which takes
// milliseconds. It tries every add.partitions.to.txn.retry.backoff.ms for
// up to add.partitions.to.txn.retry.backoff.max.ms (and the produce's
// timeout), updating codes; the producer retries what is still refused.
// A client would otherwise wait out its own backoff, or, as kgo does, its
// metadata refresh, on nearly every transaction that follows another at
// once on several partitions.
func (b *Broker) retryConcurrentAdds(ctx context.Context, v TxnVerifier, id string, tp txnProducer, need []*producePart, codes []int16) {
	cfg := b.Config()
	deadline := time.Now().Add(cfg.AddPartitionsRetryMax)
	for {
		var again []*producePart
		var at []int
		for i, code := range codes {
			if code == kerr.ConcurrentTransactions.Code {
				again, at = append(again, need[i]), append(at, i)
			}
		}
		if len(again) == 0 || time.Now().Add(cfg.AddPartitionsRetryBackoff).After(deadline) {
			return
		}
		t := time.NewTimer(cfg.AddPartitionsRetryBackoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		// Each attempt starts its verification afresh, as Kafka's
		// ReplicaManager takes a new VerificationGuard for every retry:
		// a marker written meanwhile (the previous transaction's, which
		// a coordinator that took over resends) ends the entry the last
		// attempt made, and a yes to that one would not let the batch in.
		var ask []*producePart
		var askAt []int
		for j, pp := range again {
			pp.verification = pp.p.startTxnVerification(tp.id, tp.epoch, pp.pb.headers[0].BaseSequence)
			if pp.verification == nil {
				codes[at[j]] = 0 // a transaction is open here now, or verified
				continue
			}
			ask, askAt = append(ask, pp), append(askAt, at[j])
		}
		if len(ask) == 0 {
			return
		}
		for j, code := range b.askTxnCoordinator(ctx, v, id, tp, ask, false) {
			codes[askAt[j]] = code
		}
	}
}

// transactional reports whether the partition's batches include a
// transactional one of a producer.
func (pp *producePart) transactional() bool {
	if pp.pb == nil {
		return false
	}
	for _, h := range pp.pb.headers {
		if h.IsTransactional() && h.HasProducerID() {
			return true
		}
	}
	return false
}

// askTxnCoordinator asks the coordinator of id whether the partitions
// are in producer tp's transaction and returns each one's error code.
func (b *Broker) askTxnCoordinator(ctx context.Context, v TxnVerifier, id string, tp txnProducer, need []*producePart, verifyOnly bool) []int16 {
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.SetVersion(5)
	t := kmsg.NewAddPartitionsToTxnRequestTransaction()
	t.TransactionalID, t.ProducerID, t.ProducerEpoch, t.VerifyOnly = id, tp.id, tp.epoch, verifyOnly
	for _, pp := range need {
		rt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
		rt.Topic = pp.p.tp.Topic
		rt.Partitions = []int32{pp.p.ID}
		t.Topics = append(t.Topics, rt)
	}
	req.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{t}
	resp, err := b.sendVerify(ctx, v, id, req)
	codes := make([]int16, len(need))
	if err != nil {
		b.badInput.Warn().Err(err).Str("transactional_id", id).Msg("transaction verification failed; answering NOT_ENOUGH_REPLICAS")
		for i := range codes {
			codes[i] = kerr.NetworkException.Code
		}
		return codes
	}
	got := make(map[string]map[int32]int16)
	for _, rt := range resp.Transactions {
		for _, st := range rt.Topics {
			for _, sp := range st.Partitions {
				if got[st.Topic] == nil {
					got[st.Topic] = make(map[int32]int16)
				}
				got[st.Topic][sp.Partition] = sp.ErrorCode
			}
		}
	}
	for i, pp := range need {
		code, ok := got[pp.p.tp.Topic][pp.p.ID]
		switch {
		case resp.ErrorCode == kerr.ClusterAuthorizationFailed.Code:
			code = kerr.InvalidTxnState.Code
		case resp.ErrorCode != 0:
			code = resp.ErrorCode
		case !ok:
			code = kerr.NetworkException.Code
		}
		codes[i] = code
	}
	return codes
}

// sendVerify sends a verification to the coordinator of id: in process
// when this broker leads its __transaction_state partition, else to the
// leader.
func (b *Broker) sendVerify(ctx context.Context, v TxnVerifier, id string, req *kmsg.AddPartitionsToTxnRequest) (*kmsg.AddPartitionsToTxnResponse, error) {
	part := v.TxnPartitionFor(id)
	leader, _, local := b.PartitionLeader(TransactionTopic, part)
	switch {
	case part < 0 || leader < 0:
		resp := kmsg.NewPtrAddPartitionsToTxnResponse()
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	case local:
		if a, ok := v.(TxnAdder); ok && !req.Transactions[0].VerifyOnly {
			return a.AddTxnPartitions(ctx, req), nil
		}
		return v.VerifyTxn(req), nil
	}
	resp, err := b.verifyRemote(ctx, leader, req)
	if err != nil {
		return nil, fmt.Errorf("verifying with broker %d: %w", leader, err)
	}
	return resp.(*kmsg.AddPartitionsToTxnResponse), nil
}

// produceVerifyError is what a produce answers for a partition the
// coordinator did not verify (ReplicaManager's translation).
func produceVerifyError(code int16, version int16) error {
	err := kerr.ErrorForCode(code)
	switch err {
	case kerr.InvalidTxnState, kerr.TransactionAbortable:
		if version >= 11 {
			// Without a message: ReplicaManager words only INVALID_TXN_STATE.
			return kerr.TransactionAbortable
		}
		return &produceError{kerr.InvalidTxnState, "Partition was not added to the transaction"}
	case kerr.ProducerFenced:
		return kerr.InvalidProducerEpoch
	case kerr.ConcurrentTransactions:
		if addsPartitions(version) {
			// As Kafka 4.0 (KAFKA-18662): a client of transaction
			// version 2 knows the error, and retries it at once.
			return kerr.ConcurrentTransactions
		}
		return unverified(err)
	case kerr.NetworkException, kerr.CoordinatorLoadInProgress,
		kerr.CoordinatorNotAvailable, kerr.NotCoordinator:
		return unverified(err)
	}
	return err
}

// unverified is NOT_ENOUGH_REPLICAS for a verification that failed with a
// retriable err, which older clients retry without a metadata refresh.
// The underlying error is named as Kafka's Errors.toString does.
func unverified(err error) error {
	name := err.Error()
	if ke, ok := err.(*kerr.Error); ok {
		name = ke.Message
	}
	return &produceError{kerr.NotEnoughReplicas, "Unable to verify the partition has been added to the transaction. Underlying error: " + name}
}
