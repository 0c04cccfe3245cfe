# Gregor: a Kafka-compatible broker. See README.md.
GO ?= go
BIN := bin/gregor
# The Apache Kafka command-line tools, a test tool only: the compat suite
# drives them when this directory exists and skips those tests otherwise.
KAFKA_TOOLS ?= $(abspath ../shared/kafka-tools)
export KAFKA_TOOLS_DIR ?= $(if $(wildcard $(KAFKA_TOOLS)/bin/kafka-topics.sh),$(KAFKA_TOOLS)/bin)

.PHONY: build run cluster test systest test-short deps bench fuzz vet clean screenshot

# gregor --version reports these (and the Go version).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/gregor

run: build
	./$(BIN)

# cluster runs ZooKeeper and three brokers on 127.0.0.1:9092-9094 until
# Ctrl-C (needs Debian's zookeeper package: make deps).
cluster: build
	$(GO) run ./cmd/gregor-cluster -gregor $(BIN)

# deps installs what the test suite drives (real Kafka clients, ZooKeeper);
# it is idempotent and quick when everything is present.
deps:
	./scripts/deps.sh

vet:
	$(GO) vet ./...
	$(GO) vet -tags gregorfaults ./cmd/gregor

# test runs every test (scripts/test.sh: four lanes at once, the integration
# package in two halves, the compat suite against a 3-broker cluster, and
# the rest).
test: deps vet
	GO=$(GO) ./scripts/test.sh

# systest runs every case of the ports of Kafka's consumer system tests
# (integration/systest_consumer_test.go); make test runs one of each of
# three matrices.
systest: build
	GREGOR_SYSTESTS=1 $(GO) test -count=1 -tags invariants -timeout 40m -run 'TestSystest' ./integration

test-short: vet
	$(GO) test -short -tags invariants ./...

clean:
	rm -rf bin

# bench runs Go benchmarks and the load tool against gregor and kfake.
bench:
	./scripts/bench.sh

# fuzz runs each fuzz target for FUZZTIME (default 30s).
fuzz:
	./scripts/fuzz.sh

# screenshot saves the status page of a three-broker cluster (the
# integration test's, rendered in headless Chromium) for the README.
screenshot: deps
	STATUS_SCREENSHOT=$(abspath docs/status-page.png) $(GO) test -count=1 -run TestMonitoringACluster -v ./integration
