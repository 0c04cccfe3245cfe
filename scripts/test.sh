#!/usr/bin/env bash
# make test: every package's tests, then the race-detector connection tests
# and the compat suite against a 3-broker cluster (compat-cluster.sh). The
# integration package (brokers on ZooKeeper) runs beside that lane: the two
# take about as long, so on two cores the suite takes the longer of them.
set -uo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
$GO test -count=1 -tags invariants -timeout 25m ./integration &
integration=$!
rest=0
others=$($GO list ./... | grep -v '/integration$')
# shellcheck disable=SC2086
$GO test -count=1 -tags invariants -timeout 25m $others || rest=1
# A connection's reader, writer and deferred work under the race detector,
# many connections at once.
$GO test -race -count=1 -run 'TestMixedResponsesKeepOrder|TestPipelinedRequestsAnsweredInOrder|TestDeferredResponsesKeepOrder|TestReadyResponseNotHeldBehindDeferred' ./protocol || rest=1
./scripts/compat-cluster.sh || rest=1
wait "$integration" || rest=1
exit $rest
