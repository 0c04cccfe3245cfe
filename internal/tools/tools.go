//go:build tools

// Package tools pins modules used only by tests and benchmarks (real
// Kafka clients for the compat suite, kfake as a benchmark peer), so
// go mod tidy keeps them.
package tools

import (
	_ "github.com/IBM/sarama"
	_ "github.com/go-zookeeper/zk"
	_ "github.com/segmentio/kafka-go"
	_ "github.com/twmb/franz-go/pkg/kfake"
)
