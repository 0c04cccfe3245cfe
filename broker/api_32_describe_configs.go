package broker

// DescribeConfigs (key 32), versions 0-4.
//
// The entries come from the config schema (broker/config), as Kafka's
// ConfigHelper builds them. TOPIC resources list every topic config with
// its effective value and source (the topic's override, then the broker
// key it defaults to: dynamic per broker, dynamic cluster default, static,
// default); BROKER resources named by this broker's id list every broker
// config, and the empty name (the cluster-wide default) lists only the
// dynamic cluster defaults. BROKER_LOGGER lists every logger (root first)
// with the level it logs at (internal/loglevel). Synonyms (v1+) when asked
// for, most specific first; v0 answers with IsDefault
// instead of a source; v3+ carries the config type and, when asked, its
// documentation. Topic configs are never read-only; broker configs are
// unless they can be altered dynamically; passwords are described with
// null values. A null or empty list of names asks for every config; a
// name that is not a config is left out, as Kafka does. DESCRIBE_CONFIGS
// is needed on the topic, or on the cluster for a broker or broker logger,
// else the resource is answered TOPIC_ or CLUSTER_AUTHORIZATION_FAILED,
// after every authorized one (Kafka's ConfigHelper answers the authorized
// resources, then the others, each in the request's order). A resource
// of a type Kafka does not know fails the whole request, every resource
// INVALID_REQUEST, as in Kafka.

import (
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/broker/config"
	"gregor/broker/metadata"
	"gregor/internal/loglevel"
	"gregor/protocol"
)

func (b *Broker) handleDescribeConfigs(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DescribeConfigsRequest)
	resp := req.Response().(*kmsg.DescribeConfigsResponse)
	resp.Resources = make([]kmsg.DescribeConfigsResponseResource, 0, len(r.Resources))
	if slices.ContainsFunc(r.Resources, func(rr kmsg.DescribeConfigsRequestResource) bool { return !knownConfigResource(int8(rr.ResourceType)) }) {
		// Kafka's ConfigHelper throws on a type it does not know while
		// it sorts the resources by authorization, which fails the
		// whole request: every resource is INVALID_REQUEST.
		for _, rr := range r.Resources {
			sr := kmsg.NewDescribeConfigsResponseResource()
			sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
			sr.ErrorCode, sr.ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr(invalidRequestMessage)
			resp.Resources = append(resp.Resources, sr)
		}
		return resp, nil
	}
	var denied []kmsg.DescribeConfigsResponseResource
	for _, rr := range r.Resources {
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		sr.Configs = []kmsg.DescribeConfigsResponseResourceConfig{}
		if d := b.authorizeConfigs(req, acl.DescribeConfigs, int8(rr.ResourceType), rr.ResourceName); d != nil {
			sr.ErrorCode, sr.ErrorMessage = d.Code, kmsg.StringPtr(authzMessage[d])
			denied = append(denied, sr)
			continue
		}
		entries, err := b.describeResource(ctx, int8(rr.ResourceType), rr.ResourceName)
		if err != nil {
			sr.ErrorCode, sr.ErrorMessage = ErrorCode(b.log, err), errMessage(err)
			if sr.ErrorCode == kerr.UnknownTopicOrPartition.Code {
				sr.ErrorMessage = nil
			}
		}
		for _, e := range entries {
			if len(rr.ConfigNames) > 0 && !slices.Contains(rr.ConfigNames, e.Name) {
				continue
			}
			sr.Configs = append(sr.Configs, describedConfig(e, r.IncludeSynonyms && req.Version >= 1, r.IncludeDocumentation && req.Version >= 3))
		}
		resp.Resources = append(resp.Resources, sr)
	}
	resp.Resources = append(resp.Resources, denied...)
	return resp, nil
}

// knownConfigResource reports whether a config resource type is one of
// Kafka's (ConfigResource.Type).
func knownConfigResource(typ int8) bool {
	switch typ {
	case resourceTopic, resourceBroker, resourceBrokerLogger, resourceClientMetrics, resourceGroup:
		return true
	}
	return false
}

// invalidRequestMessage is Kafka's default message of INVALID_REQUEST
// (Errors.INVALID_REQUEST), which a request failed as a whole carries.
const invalidRequestMessage = "This most likely occurs because of a request being malformed by the client library or the message was sent to an incompatible broker. See the broker logs for more details."

// describeResource lists the config entries of one resource.
func (b *Broker) describeResource(ctx context.Context, typ int8, name string) ([]config.Entry, error) {
	switch typ {
	case resourceTopic:
		if err := metadata.ValidateTopicName(name); err != nil {
			return nil, errorf(kerr.InvalidTopicException, "%v", err)
		}
		t := b.Topic(name)
		if t == nil {
			return nil, kerr.UnknownTopicOrPartition
		}
		return b.Config().TopicEntries(b.storedOverrides(ctx, t)), nil
	case resourceBroker:
		perBroker, err := b.brokerResource(name)
		if err != nil {
			return nil, err
		}
		return b.Config().BrokerEntries(perBroker), nil
	case resourceBrokerLogger:
		if name == "" {
			return nil, errorf(kerr.InvalidRequest, "Broker id must not be empty")
		}
		if _, err := b.parseBrokerResource(name, "Broker id must be an integer, but it is: %s", "Unexpected broker id, expected %d but received %s"); err != nil {
			return nil, err
		}
		// Every logger with the level it logs at (its own, else the
		// root's), as Kafka's Log4jController.loggers. Kafka gives a
		// logger no type (UNKNOWN) and no documentation.
		var entries []config.Entry
		for _, n := range b.logLevels.Names() {
			lvl, ok := b.logLevels.Level(n)
			if !ok {
				continue
			}
			v := loglevel.KafkaName(lvl)
			entries = append(entries, config.Entry{Name: n, Value: &v, Source: config.SourceBrokerLogger})
		}
		return entries, nil
	case resourceGroup:
		if name == "" {
			return nil, errorf(kerr.InvalidRequest, "Group name must not be empty")
		}
		return b.groupEntries(name), nil
	case resourceClientMetrics:
		return b.clientMetricsEntries(name)
	}
	return nil, errorf(kerr.InvalidRequest, "Unsupported resource type: %d", typ)
}

// describedConfig turns an entry into its wire form.
func describedConfig(e config.Entry, synonyms, docs bool) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	c.Name, c.Value, c.Source, c.ReadOnly, c.IsSensitive = e.Name, e.Value, kmsg.ConfigSource(e.Source), e.ReadOnly, e.Sensitive
	c.IsDefault = e.Source == config.SourceDefault
	c.ConfigType = kmsg.ConfigType(e.Type)
	c.ConfigSynonyms = []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym{}
	if synonyms {
		for _, s := range e.Synonyms {
			cs := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
			cs.Name, cs.Value, cs.Source = s.Name, s.Value, kmsg.ConfigSource(s.Source)
			c.ConfigSynonyms = append(c.ConfigSynonyms, cs)
		}
	}
	// A config without documentation (a logger, a subscription's, one
	// Kafka does not define) has none, null, as in Kafka.
	if docs && e.Doc != "" {
		c.Documentation = &e.Doc
	}
	return c
}

// storedOverrides is a topic's config overrides as the store holds them
// now, where it can say (a cluster's ZooKeeper, as Kafka's ZooKeeper mode
// reads them there), else as last delivered here: a change made through
// another broker is seen at once. If the store cannot be read in a
// moment, the overrides this broker runs with are the answer.
func (b *Broker) storedOverrides(ctx context.Context, t *Topic) map[string]string {
	r, ok := b.backend.(metadata.TopicConfigReader)
	if !ok {
		return t.Overrides()
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	stored, err := r.StoredTopicConfigs(rctx, t.Name)
	if err != nil {
		b.log.Warn().Err(err).Str("topic", t.Name).Msg("reading the topic's configs from the store failed; describing those in force here")
		return t.Overrides()
	}
	return stored
}
