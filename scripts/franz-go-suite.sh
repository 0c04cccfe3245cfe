#!/usr/bin/env bash
# Runs franz-go's own integration tests (pkg/kgo, at the version go.mod
# pins) against Gregor: one broker, or with "cluster" three brokers on
# ZooKeeper (cmd/gregor-cluster) and KGO_TEST_RF=3.
#   scripts/franz-go-suite.sh [single|cluster]
# FRANZ_RUN=<regexp> runs only the tests it matches (default: all),
# FRANZ_RECORDS the ETL tests' record count (default 50000; franz-go's own
# default, 500000, is meant for bigger machines), FRANZ_CHAOS=1 sets
# KGO_TEST_CHAOS (connections die every 0.5-1.5 s), FRANZ_BASE_PORT the
# first broker port (default 25092), FRANZ_VERBOSE=1 passes -v.
# The tests run in a copy of franz-go's module under a temporary directory
# (the module cache is read-only); nothing of it enters this tree.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-single}
case "$mode" in single | cluster) ;; *)
	echo "usage: $0 [single|cluster]" >&2
	exit 2
	;;
esac
port=${FRANZ_BASE_PORT:-25092}
go build -o bin/gregor ./cmd/gregor
go build -o bin/gregor-cluster ./cmd/gregor-cluster
src=$(go list -m -f '{{.Dir}}' github.com/twmb/franz-go)
dir=$(mktemp -d)
cp -r "$src" "$dir/franz-go"
chmod -R u+w "$dir/franz-go"
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$dir"
}
trap cleanup EXIT
# The broker settings the compat suite uses (quicker group heartbeats),
# and, as franz-go's CI gives Kafka, a share delivery limit of 10.
sets=()
while IFS= read -r line; do
	case "$line" in '' | '#'*) continue ;; esac
	sets+=(-set "$line")
done <compat/broker.properties
sets+=(-set group.share.delivery.count.limit=10)
log=$dir/broker.log
export KGO_TEST_RECORDS=${FRANZ_RECORDS:-50000}
if [ "$mode" = single ]; then
	# PLAINTEXT, and SASL_PLAINTEXT with SCRAM-SHA-256 and OAUTHBEARER
	# for the SASL tests, as franz-go's CI configures Kafka.
	sasl=$((port + 2))
	bin/gregor "${sets[@]}" \
		--set broker.id=1 \
		--set listeners=PLAINTEXT://127.0.0.1:$port,SASL_PLAINTEXT://127.0.0.1:$sasl \
		--set log.dirs="$dir/data" --set gregor.metrics.listener= \
		--set sasl.enabled.mechanisms=SCRAM-SHA-256,OAUTHBEARER \
		--set 'listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;' \
		--set 'listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="admin";' \
		>"$log" 2>&1 &
	pid=$!
	ready="gregor started"
	export KGO_SEEDS=127.0.0.1:$port KGO_TEST_RF=1
	export KGO_TEST_SCRAM_SEEDS=127.0.0.1:$sasl KGO_TEST_SCRAM=testuser:testpass KGO_TEST_OAUTH_SEEDS=127.0.0.1:$sasl
else
	bin/gregor-cluster -dir "$dir/cluster" -base-port "$port" -zk-port $((port - 3000)) -metrics-port 0 \
		-gregor bin/gregor "${sets[@]}" >"$log" 2>&1 &
	pid=$!
	ready="bootstrap servers"
	export KGO_SEEDS=127.0.0.1:$port,127.0.0.1:$((port + 1)),127.0.0.1:$((port + 2)) KGO_TEST_RF=3
fi
for _ in $(seq 1 240); do
	grep -q "$ready" "$log" && break
	if ! kill -0 "$pid" 2>/dev/null; then
		cat "$log" >&2
		exit 1
	fi
	sleep 0.5
done
if ! grep -q "$ready" "$log"; then
	echo "Gregor did not start in 2 minutes:" >&2
	tail -50 "$log" >&2
	exit 1
fi
export GOFLAGS=-mod=mod
[ "${FRANZ_CHAOS:-}" = 1 ] && export KGO_TEST_CHAOS=1
cd "$dir/franz-go"
if [ "$mode" = single ]; then
	# The SCRAM tests' user, as franz-go's CI creates it with kafka-configs.sh.
	mkdir gregorscram
	cat >gregorscram/main.go <<'EOF'
package main

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"os"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func main() {
	cl, err := kgo.NewClient(kgo.SeedBrokers(os.Args[1]))
	if err != nil {
		panic(err)
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	salted, err := pbkdf2.Key(sha256.New, "testpass", salt, 4096, sha256.Size)
	if err != nil {
		panic(err)
	}
	req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	u := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
	u.Name, u.Mechanism, u.Iterations, u.Salt, u.SaltedPassword = "testuser", 1, 4096, salt, salted
	req.Upsertions = append(req.Upsertions, u)
	resp, err := req.RequestWith(context.Background(), cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.Results[0].ErrorCode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "creating the SCRAM user:", err)
		os.Exit(1)
	}
}
EOF
	go run ./gregorscram "$KGO_SEEDS"
fi
echo "== franz-go $(basename "$src") pkg/kgo against Gregor ($mode, $KGO_SEEDS)"
set +e
start=$(date +%s)
go test -count=1 -timeout 40m ${FRANZ_VERBOSE:+-v} ${FRANZ_RUN:+-run "$FRANZ_RUN"} ./pkg/kgo
rc=$?
echo "== took $(($(date +%s) - start)) s"
if [ $rc -ne 0 ]; then
	echo "== broker log (last 100 lines of $log):"
	tail -100 "$log"
fi
exit $rc
