package broker

// AlterConfigs (key 33), versions 0-2.
//
// The legacy, non-incremental alter: the configs given replace every
// override of the resource (a config left out returns to its default).
// TOPIC resources: every name must be a topic config and every value
// valid for it, the topic's effective configuration too (INVALID_CONFIG
// with the validator's bare reason), then the topic must exist
// (UNKNOWN_TOPIC_OR_PARTITION), in the order of Kafka's controller.
// BROKER resources (this broker's id, or empty for the cluster-wide
// default): only dynamic broker configs may be set, in their scope, with
// valid values (INVALID_REQUEST with the reason otherwise, as Kafka's
// ConfigAdminManager answers; checked by the config schema); they are kept
// in cluster metadata (the Backend) and every broker rebuilds its
// configuration in force from them. GROUP and CLIENT_METRICS resources
// take their configs as IncrementalAlterConfigs validates them (Kafka's
// controller serves both APIs for them). A resource named twice in the
// request (each occurrence, none applied), a config named twice in a
// resource, a null value (checked in that order, before authorization, as
// Kafka's broker does before it forwards the request, as it validates a
// BROKER resource's change), a topic resource
// with an empty name, BROKER_LOGGER and other resource types are
// INVALID_REQUEST. validateOnly checks everything and changes nothing.
// The helpers here are shared with IncrementalAlterConfigs. ALTER_CONFIGS
// is needed on the topic or group, or on the cluster for a broker or a
// client metrics subscription, else TOPIC_, GROUP_ or
// CLUSTER_AUTHORIZATION_FAILED, with the error's own message.

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/broker/config"
	"gregor/broker/metadata"
	"gregor/protocol"
)

func (b *Broker) handleAlterConfigs(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.AlterConfigsRequest)
	resp := req.Response().(*kmsg.AlterConfigsResponse)
	resp.Resources = make([]kmsg.AlterConfigsResponseResource, 0, len(r.Resources))
	twice := repeatedResources(r.Resources, func(rr kmsg.AlterConfigsRequestResource) (kmsg.ConfigResourceType, string) {
		return rr.ResourceType, rr.ResourceName
	})
	for i, rr := range r.Resources {
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		if twice[i] {
			sr.ErrorCode, sr.ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr(errResourceTwice)
			resp.Resources = append(resp.Resources, sr)
			continue
		}
		// The request's own checks come first, then authorization, as
		// Kafka's broker checks before it forwards to the controller;
		// it validates a BROKER resource's change there too.
		configs, err := legacyConfigs(rr.Configs)
		if err == nil && int8(rr.ResourceType) == resourceBroker {
			err = b.alterConfigsOne(ctx, rr, configs, true)
		}
		if err == nil && int8(rr.ResourceType) != resourceBrokerLogger {
			if denied := b.authorizeConfigs(req, acl.AlterConfigs, int8(rr.ResourceType), rr.ResourceName); denied != nil {
				// With the error's own message, as Kafka's controller
				// answers (ApiError of the error alone).
				sr.ErrorCode, sr.ErrorMessage = denied.Code, kmsg.StringPtr(authzMessage[denied])
				resp.Resources = append(resp.Resources, sr)
				continue
			}
		}
		if err == nil {
			err = b.alterConfigsOne(ctx, rr, configs, r.ValidateOnly)
		}
		if err != nil {
			sr.ErrorCode, sr.ErrorMessage = ErrorCode(b.log, err), errMessage(err)
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}

// legacyConfigs are the configs of an AlterConfigs resource, checked as
// Kafka's ConfigAdminManager.preprocess does: no name twice, then no null
// value.
func legacyConfigs(cs []kmsg.AlterConfigsRequestResourceConfig) (map[string]string, error) {
	configs := make(map[string]string, len(cs))
	var nulls []string
	for _, c := range cs {
		if _, ok := configs[c.Name]; ok || slices.Contains(nulls, c.Name) {
			return nil, errDuplicateKeys
		}
		if c.Value == nil {
			nulls = append(nulls, c.Name)
			continue
		}
		configs[c.Name] = *c.Value
	}
	if len(nulls) > 0 {
		return nil, errorf(kerr.InvalidRequest, "Null value not supported for : %s", strings.Join(nulls, ", "))
	}
	return configs, nil
}

func (b *Broker) alterConfigsOne(ctx context.Context, rr kmsg.AlterConfigsRequestResource, configs map[string]string, validateOnly bool) error {
	switch int8(rr.ResourceType) {
	case resourceTopic:
		if _, err := b.topicForAlter(rr.ResourceName); err != nil {
			return b.unknownTopicAfter(err, func() error { return b.validTopicConfigs(configs) })
		}
		return b.setTopicConfigs(ctx, rr.ResourceName, configs, validateOnly)
	case resourceBroker:
		perBroker, err := b.alterBrokerResource(rr.ResourceName)
		if err != nil {
			return err
		}
		return b.setBrokerConfigs(ctx, perBroker, func(map[string]string) (map[string]string, error) { return configs, nil }, validateOnly)
	case resourceBrokerLogger:
		// Not one of the types Kafka's ConfigAdminManager.preprocess
		// serves in the legacy API.
		return errorf(kerr.InvalidRequest, "Unknown resource type %d", rr.ResourceType)
	case resourceGroup:
		return b.setGroupConfigs(ctx, rr.ResourceName, configs, validateOnly)
	case resourceClientMetrics:
		return b.setClientMetrics(ctx, rr.ResourceName, configs, validateOnly)
	}
	return errorf(kerr.InvalidRequest, "Unknown resource type %d", rr.ResourceType)
}

// errDuplicateKeys answers a resource that names a config more than once
// (Kafka's ConfigAdminManager.preprocess, before it looks at the values).
var errDuplicateKeys = errorf(kerr.InvalidRequest, "Error due to duplicate config keys")

// errResourceTwice answers each occurrence of a resource an alter request
// names more than once, which changes none of them (Kafka's
// ConfigAdminManager.preprocess).
const errResourceTwice = "Each resource must appear at most once."

// repeatedResources marks the resources of an alter request whose type
// and name appear more than once in it.
func repeatedResources[R any](rs []R, key func(R) (kmsg.ConfigResourceType, string)) []bool {
	type id struct {
		typ  kmsg.ConfigResourceType
		name string
	}
	first := make(map[id]int, len(rs))
	twice := make([]bool, len(rs))
	for i, r := range rs {
		t, n := key(r)
		if j, ok := first[id{t, n}]; ok {
			twice[i], twice[j] = true, true
			continue
		}
		first[id{t, n}] = i
	}
	return twice
}

// topicForAlter returns the topic a config change names.
func (b *Broker) topicForAlter(name string) (*Topic, error) {
	if name == "" {
		// Kafka keeps no default topic resource to alter.
		return nil, errorf(kerr.InvalidRequest, "Default topic resources are not allowed.")
	}
	if err := metadata.ValidateTopicName(name); err != nil {
		return nil, errorf(kerr.InvalidTopicException, "%v", err)
	}
	t := b.Topic(name)
	if t == nil {
		return nil, errorf(kerr.UnknownTopicOrPartition, "The topic '%s' does not exist.", name)
	}
	return t, nil
}

// unknownTopicAfter returns topicForAlter's error, but when that is an
// unknown topic, the error of validating the change first: Kafka's
// controller checks the configs (ConfigurationControlManager's
// validateAlterConfig) before the topic's existence.
func (b *Broker) unknownTopicAfter(err error, validate func() error) error {
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		if verr := validate(); verr != nil {
			return verr
		}
	}
	return err
}

// setTopicConfigs validates a topic's complete new overrides and records
// them unless validateOnly.
func (b *Broker) setTopicConfigs(ctx context.Context, name string, overrides map[string]string, validateOnly bool) error {
	if err := b.validTopicConfigs(overrides); err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	if err := b.backend.AlterTopicConfigs(ctx, name, overrides); err != nil {
		return err
	}
	b.topicConfigsAltered(ctx, name, overrides)
	return nil
}

// validTopicConfigs validates a topic's overrides, and its effective
// configuration with them, as Kafka's controller does: INVALID_CONFIG with
// the bare reason (the "Invalid config value for resource" prefix was
// ZooKeeper-mode Kafka's).
func (b *Broker) validTopicConfigs(overrides map[string]string) error {
	if err := b.Config().CheckTopicConfigs(overrides); err != nil {
		return errorf(kerr.InvalidConfig, "%v", err)
	}
	return nil
}

// topicConfigsAltered logs a topic's new overrides and waits (briefly)
// until this broker applied them.
func (b *Broker) topicConfigsAltered(ctx context.Context, name string, overrides map[string]string) {
	b.log.Info().Str("topic", name).Interface("configs", overrides).Msg("topic configs altered")
	b.logTopicNoEffect(name, overrides)
	// In a cluster the change comes back through metadata; wait (briefly)
	// until this broker applied it, so a describe that follows sees it.
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		if t := b.Topic(name); t == nil || maps.Equal(t.Overrides(), overrides) || len(t.Overrides()) == 0 && len(overrides) == 0 {
			return
		}
		select {
		case <-wctx.Done():
			b.log.Warn().Str("topic", name).Msg("altered topic configs not applied here yet")
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// checkBrokerConfigs validates new dynamic configs by the schema and, for
// this broker's own, has the listeners whose TLS they change load and
// check the new stores.
func (b *Broker) checkBrokerConfigs(perBroker bool, configs map[string]string) error {
	cur := b.Config()
	if err := cur.CheckDynamic(perBroker, configs); err != nil {
		return err
	}
	if !perBroker {
		// The whole must still hold together, as Kafka's
		// DynamicBrokerConfig.validate builds a new KafkaConfig (no
		// log.retention.ms of 0, ...).
		return b.cfg.CheckWithDynamic(config.Dynamic{Defaults: configs, PerBroker: cur.Dynamic.PerBroker})
	}
	next, errs := b.cfg.WithDynamic(config.Dynamic{PerBroker: configs, Defaults: cur.Dynamic.Defaults})
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return b.checkListenerTLS(next)
}

// setBrokerConfigs records the dynamic configs of this broker (perBroker)
// or of the cluster default that edit makes of the current ones, as the
// metadata store holds them (the delivered ones for validateOnly), once
// validated. The backend returns once this broker has applied them (or a
// later change), so a describe that follows sees them.
func (b *Broker) setBrokerConfigs(ctx context.Context, perBroker bool, edit func(cur map[string]string) (map[string]string, error), validateOnly bool) error {
	entity := ""
	if perBroker {
		entity = strconv.Itoa(int(b.id))
	}
	checked := func(cur map[string]string) (map[string]string, error) {
		// Stored entries that may not be applied (set by another tool,
		// or no longer valid) are dropped, not carried into the new
		// set, as Kafka reads them (fromPersistentProps).
		cur, dropped := config.UsableDynamic(cur, perBroker)
		for _, err := range dropped {
			b.log.Warn().Err(err).Bool("per_broker", perBroker).Msg("a stored dynamic broker config is dropped by this alteration")
		}
		next, err := edit(cur)
		if err != nil {
			return nil, err
		}
		if err := b.checkBrokerConfigs(perBroker, next); err != nil {
			// Kafka answers only "Invalid dynamic configuration" and
			// logs why (ConfigAdminManager.validateBrokerConfigChange).
			var re *config.ReconfigError
			if errors.As(err, &re) {
				b.log.Warn().Err(re.Cause).Bool("per_broker", perBroker).Msg("dynamic broker config change refused")
			}
			// INVALID_REQUEST with the bare reason, as Kafka answers a
			// broker config its dynamic config refuses (KAFKA-13609
			// keeps it so for compatibility).
			return nil, errorf(kerr.InvalidRequest, "%v", err)
		}
		return next, nil
	}
	if validateOnly {
		d := b.Config().Dynamic
		cur := d.Defaults
		if perBroker {
			cur = d.PerBroker
		}
		_, err := checked(maps.Clone(cur))
		return err
	}
	var configs map[string]string
	err := b.backend.EditBrokerConfigs(ctx, entity, func(cur map[string]string) (map[string]string, error) {
		next, err := checked(cur)
		configs = next
		return next, err
	})
	if err != nil {
		// A password the backend cannot store: no password.encoder.secret
		// in a cluster (Kafka's toPersistentProps, INVALID_CONFIG).
		var ice *metadata.InvalidConfigError
		if errors.As(err, &ice) {
			return errorf(kerr.InvalidConfig, "Invalid config value for resource ConfigResource(type=BROKER, name='%s'): %s", entity, ice.Msg)
		}
		return err
	}
	b.log.Info().Bool("per_broker", perBroker).Interface("configs", config.Redacted(configs)).Msg("dynamic broker configs altered")
	return nil
}
