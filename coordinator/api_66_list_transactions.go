package coordinator

// ListTransactions (key 66), versions 0-2: the transactional ids this
// broker coordinates (the admin client asks every broker), filtered by
// state names (unknown names are echoed in UnknownStateFilters), producer
// ids, minimum running time (v1+) and an id pattern (v2+, a regular
// expression that must match the whole id, as RE2J's Matcher.matches() in
// Kafka's TransactionStateManager; Go's regexp has RE2's syntax, as RE2J;
// an invalid one is INVALID_REGULAR_EXPRESSION, as Kafka's
// TransactionStateManager.listTransactionStates throws
// InvalidRegularExpression). A partition still loading makes the answer
// COORDINATOR_LOAD_IN_PROGRESS, with no unknown state filters, as there.
// Only the ids the principal may DESCRIBE are listed.

import (
	"context"
	"regexp"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

func (c *txnCoordinator) handleListTransactions(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.ListTransactionsRequest)
	resp := req.Response().(*kmsg.ListTransactionsResponse)
	resp.UnknownStateFilters = []string{}
	resp.TransactionStates = []kmsg.ListTransactionsResponseTransactionState{}
	var pattern *regexp.Regexp
	if r.TransactionalIDPattern != nil && *r.TransactionalIDPattern != "" {
		re, err := wholeIDPattern(*r.TransactionalIDPattern)
		if err != nil {
			// As Kafka's listTransactionStates throws
			// InvalidRegularExpression: an error response and nothing else.
			resp.ErrorCode = kerr.InvalidRegularExpression.Code
			return resp, nil
		}
		pattern = re
	}
	if c.rt.Loading() {
		resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
		return resp, nil
	}
	states := make(map[kmsg.TransactionState]bool)
	for _, s := range r.StateFilters {
		st, ok := txnStateNamed(s)
		if !ok {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, s)
			continue
		}
		states[st] = true
	}
	if len(r.StateFilters) > 0 && len(states) == 0 {
		return resp, nil // only unknown states asked for: nothing matches
	}
	pids := make(map[int64]bool)
	for _, p := range r.ProducerIDFilters {
		pids[p] = true
	}
	now := c.nowMs()
	for _, s := range c.rt.Loaded() {
		metas := s.Machine.metas()
		for _, m := range metas {
			d, removed := m.data()
			switch {
			case removed || d.pid < 0:
			case len(states) > 0 && !states[d.state]:
			case len(pids) > 0 && !pids[d.pid]:
			case r.DurationFilterMillis >= 0 && req.Version >= 1 && now-d.startMs <= r.DurationFilterMillis:
				// As Kafka: running at most the filter's time. An id with
				// no transaction (start -1) is listed, as there.
			case pattern != nil && !pattern.MatchString(m.id):
			case !c.allowed(req, acl.Describe, acl.TransactionalID, m.id):
			default:
				st := kmsg.NewListTransactionsResponseTransactionState()
				st.TransactionalID, st.ProducerID, st.TransactionState = m.id, d.pid, d.state.String()
				resp.TransactionStates = append(resp.TransactionStates, st)
			}
		}
	}
	sort.Slice(resp.TransactionStates, func(i, j int) bool {
		return resp.TransactionStates[i].TransactionalID < resp.TransactionStates[j].TransactionalID
	})
	return resp, nil
}

// wholeIDPattern compiles a transactional id pattern to match whole ids
// only. The pattern is checked as it is first, so that anchoring it cannot
// make an invalid one compile.
func wholeIDPattern(p string) (*regexp.Regexp, error) {
	if _, err := regexp.Compile(p); err != nil {
		return nil, err
	}
	return regexp.Compile(`^(?:` + p + `)$`)
}

// txnStateNamed parses a state as Kafka names it.
func txnStateNamed(s string) (kmsg.TransactionState, bool) {
	for st := txnEmpty; st <= kmsg.TransactionState(7); st++ {
		if st.String() == s {
			return st, true
		}
	}
	return 0, false
}
