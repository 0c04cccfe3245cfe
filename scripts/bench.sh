#!/usr/bin/env bash
# Benchmarks: Go micro-benchmarks of the hot paths, then the load tool
# against a fresh gregor and franz-go's kfake (on disk), alternately.
#   ROUNDS=5 DURATION=5s SCENARIOS=produce-1k-all,e2e-10k make bench
# STEADY=0, SECURITY=0, SESSIONS=0 or REPLICATION=0 skip those parts; SCALE=1 adds
# the 10,000-partition and 10,000-connection run (several minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/gregor ./cmd/gregor
go build -o bin/gregor-bench ./cmd/gregor-bench
echo "== Go benchmarks"
gobench=$(mktemp)
trap 'rm -f "$gobench"' EXIT
gobench_rc=0
go test -run '^$' -bench . -benchmem -count "${COUNT:-3}" ./broker/... ./protocol/... ./coordinator/... >"$gobench" 2>&1 || gobench_rc=$?
grep -E '^(Benchmark|ok|FAIL|---)' "$gobench" || true
if [ "$gobench_rc" != 0 ]; then
	# A benchmark that fails is reported whole, and fails make bench.
	cat "$gobench"
	echo "Go benchmarks failed" >&2
	exit "$gobench_rc"
fi
echo "== load: gregor vs kfake (medians of ${ROUNDS:-5} rounds)"
bin/gregor-bench compare -gregor bin/gregor -rounds "${ROUNDS:-5}" -duration "${DURATION:-5s}" ${SCENARIOS:+-scenarios "$SCENARIOS"}
if [ "${STEADY:-1}" != 0 ]; then
	# Produce with each broker's page cache in steady state (memcg.go): on
	# VMs that hand freed memory back to their host, the run above
	# measures how much backed memory each broker happens to find. Each
	# scenario deletes its topic, emptying the cgroup, so the group is
	# small (256 MB) for most of a run's writes to go into reclaimed pages;
	# too small to keep consume-1k's 200 MB cached, so produce only.
	echo "== load: produce, gregor vs kfake, each in a 256 MB memory cgroup (medians of ${ROUNDS:-5} rounds)"
	bin/gregor-bench compare -gregor bin/gregor -rounds "${ROUNDS:-5}" -duration "${DURATION:-5s}" -memory-mb 256 -scenarios "${STEADY_SCENARIOS:-produce-1k-all,produce-100b-1,produce-100b-1-batches}"
fi
if [ "${SECURITY:-1}" != 0 ]; then
	echo "== security: SASL_SSL (SCRAM-SHA-512) vs PLAINTEXT on one broker (medians of ${ROUNDS:-5} rounds)"
	bin/gregor-bench security -gregor bin/gregor -rounds "${ROUNDS:-5}" -duration "${DURATION:-5s}"
fi
if [ "${SESSIONS:-1}" != 0 ]; then
	echo "== fetch sessions: a consumer of 2,000 partitions with and without (medians of ${ROUNDS:-5} rounds)"
	bin/gregor-bench sessions -gregor bin/gregor -rounds "${ROUNDS:-5}" -duration "${DURATION:-5s}"
fi
if [ "${SCALE:-0}" != 0 ]; then
	echo "== scale: 10,000 partitions, then 10,000 idle connections"
	bin/gregor-bench scale -gregor bin/gregor -partitions 10000 -conns 0
	bin/gregor-bench scale -gregor bin/gregor -partitions 1000 -conns 10000
fi
if [ "${DOWNCONVERT:-1}" != 0 ]; then
	echo "== down-conversion: magic 1 (Fetch v3) vs magic 2 readers of the same data (medians of ${ROUNDS:-5} rounds)"
	bin/gregor-bench downconvert -gregor bin/gregor -rounds "${ROUNDS:-5}"
fi
if [ "${CONSUMER_GROUPS:-1}" != 0 ]; then
	echo "== groups: KIP-848 consumer groups vs classic, join and rebalance of a group of 4 (medians of ${ROUNDS:-5} rounds)"
	bin/gregor-bench groups -gregor bin/gregor -rounds "${ROUNDS:-5}"
fi
if [ "${REPLICATION:-1}" != 0 ] && [ -f /usr/share/java/zookeeper.jar ]; then
	echo "== replication: rf=3 acks=all on 3 brokers vs rf=1 acks=1 on one (medians of ${ROUNDS:-5} rounds)"
	bin/gregor-bench replication -gregor bin/gregor -rounds "${ROUNDS:-5}" -duration "${DURATION:-5s}" 2>/dev/null
fi
if [ "${ROLLING:-1}" != 0 ] && [ -f /usr/share/java/zookeeper.jar ]; then
	echo "== availability: acks=all ack waits through a rolling restart of 3 brokers (medians of ${ROLLING_ROUNDS:-3} rounds)"
	bin/gregor-bench rolling -gregor bin/gregor -rounds "${ROLLING_ROUNDS:-3}" 2>/dev/null
fi
if [ "${HOSTILE:-1}" != 0 ]; then
	echo "== hostile clients: a canary producer's ack waits and the broker's memory beside misbehaving connections"
	bin/gregor-bench hostile -gregor bin/gregor -duration "${HOSTILE_DURATION:-10s}" 2>/dev/null
fi
if [ "${SOAK:-0}" != 0 ] && [ -f /usr/share/java/zookeeper.jar ]; then
	echo "== soak: what a 3-broker cluster grows under load, churn and restarts (${SOAK_DURATION:-10m})"
	bin/gregor-bench soak -gregor bin/gregor -duration "${SOAK_DURATION:-10m}" 2>/dev/null
fi
