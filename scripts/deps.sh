#!/usr/bin/env bash
# Installs what Gregor's tests need, idempotently: Go modules, Debian's
# Kafka clients and ZooKeeper, kafkajs from npm.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v kcat >/dev/null || need_apt+=(kcat)
/usr/bin/python3 -c 'import kafka' 2>/dev/null || need_apt+=(python3-kafka)
/usr/bin/python3 -c 'import confluent_kafka' 2>/dev/null || need_apt+=(python3-confluent-kafka)
# kafka-python's codecs beyond gzip.
/usr/bin/python3 -c 'import snappy' 2>/dev/null || need_apt+=(python3-snappy)
/usr/bin/python3 -c 'import lz4' 2>/dev/null || need_apt+=(python3-lz4)
/usr/bin/python3 -c 'import zstandard' 2>/dev/null || need_apt+=(python3-zstandard)
# kafka-python writes and reads LZ4 for magic 0 (pinned to 0.8/0.9) with xxhash.
/usr/bin/python3 -c 'import xxhash' 2>/dev/null || need_apt+=(python3-xxhash)
[ -f /usr/share/java/zookeeper.jar ] || need_apt+=(zookeeper)
command -v java >/dev/null || need_apt+=(default-jre-headless)
command -v gcc >/dev/null || need_apt+=(gcc) # go test -race needs cgo
command -v node >/dev/null || need_apt+=(nodejs npm)
# ss reads a follower's socket buffers (integration).
command -v ss >/dev/null || need_apt+=(iproute2)
if [ ${#need_apt[@]} -gt 0 ]; then
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

# The status page's browser test drives Debian's headless Chromium. It is
# skipped, with a message, where Chromium cannot be installed.
if ! command -v chromium >/dev/null; then
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium; }; then
		echo "deps: chromium could not be installed; the status page's browser test will be skipped"
	fi
fi

if [ -f compat/js/package.json ] && [ ! -d compat/js/node_modules/kafkajs ]; then
	(cd compat/js && npm ci --no-audit --no-fund --silent 2>/dev/null || npm install --no-audit --no-fund --silent)
fi

# The Apache Kafka tools' run-time jars, when the tools are here.
tools=${KAFKA_TOOLS:-../shared/kafka-tools}
if [ -x "$tools/install-deps.sh" ]; then
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO "$tools/install-deps.sh"
else
	echo "deps: no Apache Kafka tools at $tools; the tests that drive them will be skipped"
fi

go mod download
