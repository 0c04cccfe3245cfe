#!/usr/bin/env bash
# make test: every package's tests, the race-detector connection tests and
# the compat suite against a 3-broker cluster (compat-cluster.sh), in four
# lanes at once. Most of the suite waits (on session timeouts, on clients'
# retries, on brokers starting), so on two cores the lanes overlap their
# waits: the integration package (brokers on ZooKeeper) runs as two halves
# of its tests, the 3-broker compat run as a third lane, everything else as
# the fourth. A lane's failure fails the suite; each lane's output is
# printed whole when it ends, so lanes do not interleave.
set -uo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# The integration tests, dealt alternately into two halves (sorted by
# name, so each half is the same from run to run).
$GO test -c -tags invariants -o "$out/integration.test" ./integration || exit 1
mapfile -t tests < <("$out/integration.test" -test.list '.*' | grep '^Test' | sort)
halves=("" "")
for i in "${!tests[@]}"; do
	h=$((i % 2))
	halves[h]+="${halves[h]:+|}${tests[i]}"
done

pids=()
names=()
lane() {
	local name=$1
	shift
	("$@" >"$out/$name.log" 2>&1
		rc=$?
		echo "== lane $name (exit $rc)"
		cat "$out/$name.log"
		exit $rc) &
	pids+=($!)
	names+=("$name")
}

integration() {
	cd integration && "$out/integration.test" -test.count=1 -test.timeout=25m -test.run "^($1)\$" &&
		echo "ok  	gregor/integration (half $2)"
}
lane integration-1 integration "${halves[0]}" 1
lane integration-2 integration "${halves[1]}" 2
lane compat-cluster ./scripts/compat-cluster.sh

rest() {
	local rc=0
	others=$($GO list ./... | grep -v '/integration$')
	# shellcheck disable=SC2086
	$GO test -count=1 -tags invariants -timeout 25m $others || rc=1
	# A connection's reader, writer and deferred work under the race
	# detector, many connections at once.
	$GO test -race -count=1 -run 'TestMixedResponsesKeepOrder|TestPipelinedRequestsAnsweredInOrder|TestDeferredResponsesKeepOrder|TestReadyResponseNotHeldBehindDeferred' ./protocol || rc=1
	# Every Go benchmark once (make bench runs them for their numbers), so
	# that one that no longer runs fails here.
	$GO test -count=1 -run '^$' -bench . -benchtime=1x ./broker/... ./protocol/... ./coordinator/... >"$out/bench.log" 2>&1 || {
		cat "$out/bench.log"
		rc=1
	}
	return $rc
}
lane rest rest

status=0
for i in "${!pids[@]}"; do
	wait "${pids[i]}" || {
		status=1
		echo "FAIL: lane ${names[i]}" >&2
	}
done
exit $status
