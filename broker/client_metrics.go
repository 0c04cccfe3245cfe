package broker

// Client metrics subscriptions (KIP-714): config resources of type
// CLIENT_METRICS, each a name with up to three configs (metrics,
// interval.ms, match), altered with IncrementalAlterConfigs or
// AlterConfigs, read with DescribeConfigs and listed with
// ListClientMetricsResources (ListConfigResources from Kafka 4.1), which
// kafka-client-metrics.sh uses. Kafka keeps them in its KRaft metadata;
// Gregor keeps them in the metadata backend (the local file, or
// /config/client-metrics in ZooKeeper), which delivers them to every
// broker (ApplyClientMetrics).
//
// Kafka pushes subscriptions to clients (GetTelemetrySubscriptions,
// PushTelemetry) only when a telemetry receiver plugin is configured, and
// advertises those APIs only then. Gregor has no plugins, so, like a
// Kafka broker without one, it does not advertise them, and clients do not
// push metrics.

import (
	"context"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/broker/config"
)

// Config resource type CLIENT_METRICS (ConfigResource.Type.CLIENT_METRICS).
const resourceClientMetrics int8 = 16

// sourceClientMetrics is DescribeConfigs' CLIENT_METRICS_CONFIG source.
const sourceClientMetrics config.Source = 7

// clientMetricsKeys are a subscription's configs, in Kafka's order.
var clientMetricsKeys = []string{"metrics", "interval.ms", "match"}

// clientMatchParams are the client properties a match pattern may name.
var clientMatchParams = []string{
	"client_instance_id", "client_id", "client_software_name",
	"client_software_version", "client_source_address", "client_source_port",
}

// validateClientMetrics checks a subscription's complete configs as
// Kafka's ClientMetricsConfigs.validate does, with its error codes and
// wording. A match pattern is split at its first '=', as Kafka does since
// patterns may hold '=' themselves.
func validateClientMetrics(name string, configs map[string]string) error {
	if name == "" {
		return errorf(kerr.InvalidRequest, "Subscription name can't be empty")
	}
	for _, k := range slices.Sorted(maps.Keys(configs)) {
		if !slices.Contains(clientMetricsKeys, k) {
			return errorf(kerr.InvalidRequest, "Unknown client metrics configuration: %s", k)
		}
	}
	if v, ok := configs["interval.ms"]; ok {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
		if err != nil {
			return errorf(kerr.InvalidConfig, "Invalid value %s for configuration interval.ms: Not a number of type INT", v)
		}
		if n < 100 || n > 3600000 {
			return errorf(kerr.InvalidRequest, "Invalid value %d for interval.ms, interval must be between 100 and 3600000 (1 hour)", n)
		}
	}
	if v, ok := configs["match"]; ok {
		for _, p := range splitItems(v) {
			param, pattern, found := strings.Cut(p, "=")
			if !found || !slices.Contains(clientMatchParams, strings.TrimSpace(param)) {
				return errorf(kerr.InvalidConfig, "Illegal client matching pattern: %s", p)
			}
			if _, err := regexp.Compile(strings.TrimSpace(pattern)); err != nil {
				return errorf(kerr.InvalidConfig, "Illegal client matching pattern: %s", p)
			}
		}
	}
	return nil
}

// clientMetricsLookup gives the type of a subscription's config, for
// IncrementalAlterConfigs' APPEND and SUBTRACT.
func clientMetricsLookup(name string) (*config.Key, bool) {
	switch name {
	case "metrics", "match":
		return &config.Key{Name: name, Type: config.List}, true
	case "interval.ms":
		return &config.Key{Name: name, Type: config.Int, Default: "300000"}, true
	}
	return nil, false
}

// setClientMetrics replaces a subscription's configs (none deletes it).
func (b *Broker) setClientMetrics(ctx context.Context, name string, next map[string]string, validateOnly bool) error {
	if err := validateClientMetrics(name, next); err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	if err := b.backend.AlterClientMetrics(ctx, name, next); err != nil {
		return err
	}
	b.clientMetricsAltered(ctx, name, next)
	return nil
}

// clientMetricsAltered logs a subscription's new configs and waits
// (briefly) until this broker applied them.
func (b *Broker) clientMetricsAltered(ctx context.Context, name string, next map[string]string) {
	b.log.Info().Str("subscription", name).Interface("configs", next).Msg("client metrics subscription altered")
	if !b.clientMetrics.await(ctx, name, next) {
		b.log.Warn().Str("subscription", name).Msg("client metrics subscription recorded but not yet applied here")
	}
}

// clientMetricsEntries describes a subscription as Kafka does: only the
// configs it sets (none for a name that has no subscription).
func (b *Broker) clientMetricsEntries(name string) ([]config.Entry, error) {
	if name == "" {
		return nil, errorf(kerr.InvalidRequest, "Client metrics subscription name must not be empty")
	}
	set := b.clientMetrics.get(name)
	var out []config.Entry
	for _, k := range clientMetricsKeys {
		if v, ok := set[k]; ok {
			out = append(out, config.Entry{Name: k, Value: &v, Source: sourceClientMetrics})
		}
	}
	return out, nil
}

// ApplyClientMetrics takes every subscription (ClientMetricsApplier).
func (a applier) ApplyClientMetrics(subs map[string]map[string]string) {
	a.b.clientMetrics.replace(subs)
}
