#!/usr/bin/env bash
# Runs the compat suite against a local three-broker cluster on a real
# ZooKeeper (cmd/gregor-cluster), as SPEC section 1 asks: every client
# must work against a cluster as against one broker.
#   CLUSTER_BASE_PORT=29092 CLUSTER_ZK_PORT=22181 scripts/compat-cluster.sh
# COMPAT_RUN=<regexp> runs only the tests it matches.
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/gregor ./cmd/gregor
go build -o bin/gregor-cluster ./cmd/gregor-cluster
port=${CLUSTER_BASE_PORT:-29092}
zk=${CLUSTER_ZK_PORT:-22181}
dir=$(mktemp -d)
log=$dir/cluster.log
# The brokers get the settings the suite's own broker gets.
sets=()
while IFS= read -r line; do
	case "$line" in '' | '#'*) continue ;; esac
	sets+=(-set "$line")
done <compat/broker.properties
bin/gregor-cluster -dir "$dir/data" -base-port "$port" -zk-port "$zk" -metrics-port 0 -gregor bin/gregor "${sets[@]}" >"$log" 2>&1 &
pid=$!
cleanup() {
	kill -INT "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
# Wait (bounded) for the cluster to say it is ready.
for _ in $(seq 1 240); do
	if grep -q "bootstrap servers" "$log"; then
		break
	fi
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "gregor-cluster exited:" >&2
		cat "$log" >&2
		exit 1
	fi
	sleep 0.5
done
if ! grep -q "bootstrap servers" "$log"; then
	echo "gregor-cluster did not become ready in 2 minutes:" >&2
	cat "$log" >&2
	exit 1
fi
echo "== compat suite against a 3-broker cluster on 127.0.0.1:$port"
status=0
COMPAT_BOOTSTRAP="127.0.0.1:$port" go test -count=1 -timeout 15m ./compat ${COMPAT_RUN:+-run "$COMPAT_RUN"} ${COMPAT_VERBOSE:+-v} || status=$?
if [ "$status" -ne 0 ]; then
	# The brokers' own account of a failure the suite saw: each one's
	# last warnings and errors, and its last lines.
	for blog in "$dir"/data/broker-*/gregor.log; do
		echo "== last warnings and errors of $blog"
		grep -E '"level":"(warn|error)"' "$blog" | tail -n 60 || true
		echo "== last lines of $blog"
		tail -n 60 "$blog"
	done
fi
exit "$status"
