package broker

// IncrementalAlterConfigs (key 44), versions 0-1.
//
// Each op applies to the resource's current overrides: SET (0) sets a
// value, DELETE (1) removes an override (a name that is not set is a
// no-op), APPEND (2) and SUBTRACT (3) add or remove comma-separated items
// of a list config (starting from its default when not set; a non-list
// config is INVALID_CONFIG). A resource named twice in one request (each
// occurrence), then a name given twice in one resource, a null value for
// SET/APPEND/SUBTRACT and an unknown op are INVALID_REQUEST, checked
// before authorization as Kafka's broker does, as is the change of a
// BROKER resource; so is an unknown resource type. The result is validated as AlterConfigs validates (INVALID_CONFIG,
// then UNKNOWN_TOPIC_OR_PARTITION); validateOnly changes nothing. Changing
// log levels (BROKER_LOGGER) follows Kafka's RuntimeLoggerManager: every
// op is checked before any applies (SET of an unknown logger or a level
// not named exactly as Kafka's, INVALID_CONFIG; DELETE of the root,
// APPEND and SUBTRACT, INVALID_REQUEST); the change is in memory only.
// ALTER_CONFIGS is needed on
// the topic or group, or on the cluster for a broker, broker logger or
// client metrics subscription, else TOPIC_, GROUP_ or
// CLUSTER_AUTHORIZATION_FAILED.

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/broker/config"
	"gregor/broker/metadata"
	"gregor/internal/loglevel"
	"gregor/protocol"
)

// IncrementalAlterConfigs operations.
const (
	opSet      = 0
	opDelete   = 1
	opAppend   = 2
	opSubtract = 3
)

func (b *Broker) handleIncrementalAlterConfigs(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.Response().(*kmsg.IncrementalAlterConfigsResponse)
	resp.Resources = make([]kmsg.IncrementalAlterConfigsResponseResource, 0, len(r.Resources))
	twice := repeatedResources(r.Resources, func(rr kmsg.IncrementalAlterConfigsRequestResource) (kmsg.ConfigResourceType, string) {
		return rr.ResourceType, rr.ResourceName
	})
	for i, rr := range r.Resources {
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		if twice[i] {
			sr.ErrorCode, sr.ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr(errResourceTwice)
			resp.Resources = append(resp.Resources, sr)
			continue
		}
		// The request's own checks come first, then authorization, as
		// Kafka's broker checks before it forwards to the controller;
		// it validates a BROKER resource's change there too.
		err := checkIncrementalOps(rr.Configs)
		if err == nil && int8(rr.ResourceType) == resourceBroker {
			err = b.incrementalAlterOne(ctx, rr, true)
		}
		if err == nil {
			if denied := b.authorizeConfigs(req, acl.AlterConfigs, int8(rr.ResourceType), rr.ResourceName); denied != nil {
				// With the error's own message, as Kafka's controller
				// answers (ApiError of the error alone).
				sr.ErrorCode, sr.ErrorMessage = denied.Code, kmsg.StringPtr(authzMessage[denied])
				resp.Resources = append(resp.Resources, sr)
				continue
			}
			err = b.incrementalAlterOne(ctx, rr, r.ValidateOnly)
		}
		if err != nil {
			sr.ErrorCode, sr.ErrorMessage = ErrorCode(b.log, err), errMessage(err)
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}

func (b *Broker) incrementalAlterOne(ctx context.Context, rr kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) error {
	// Each alteration reads the resource's configs and writes them all
	// back: this broker's run one at a time, so concurrent APPENDs to one
	// list both land (Kafka's controller serialises them likewise).
	b.configOps.Lock()
	defer b.configOps.Unlock()
	switch int8(rr.ResourceType) {
	case resourceTopic:
		t, err := b.topicForAlter(rr.ResourceName)
		if err != nil {
			return b.unknownTopicAfter(err, func() error {
				next, err := applyIncremental(nil, rr.Configs, true)
				if err != nil {
					return err
				}
				return b.validTopicConfigs(next)
			})
		}
		if validateOnly {
			next, err := applyIncremental(b.storedOverrides(ctx, t), rr.Configs, true)
			if err != nil {
				return err
			}
			return b.setTopicConfigs(ctx, rr.ResourceName, next, true)
		}
		// Applied to the overrides as the store holds them, so a
		// change made just before through another broker, not yet
		// delivered here, is built on rather than lost.
		var written map[string]string
		err = b.backend.EditTopicConfigs(ctx, rr.ResourceName, func(cur map[string]string) (map[string]string, error) {
			next, err := applyIncremental(cur, rr.Configs, true)
			if err != nil {
				return nil, err
			}
			if err := b.validTopicConfigs(next); err != nil {
				return nil, err
			}
			written = next
			return next, nil
		})
		if err != nil {
			return err
		}
		b.topicConfigsAltered(ctx, rr.ResourceName, written)
		return nil
	case resourceBroker:
		perBroker, err := b.alterBrokerResource(rr.ResourceName)
		if err != nil {
			return err
		}
		// Applied to the configs as the store holds them, as for a
		// topic: a change of the cluster default made just before
		// through another broker is built on rather than lost.
		return b.setBrokerConfigs(ctx, perBroker, func(cur map[string]string) (map[string]string, error) {
			return applyIncremental(cur, rr.Configs, false)
		}, validateOnly)
	case resourceBrokerLogger:
		// The name is checked as Kafka's RuntimeLoggerManager does:
		// this node's id, never empty.
		const notInt = "Node id must be an integer, but it is: %s"
		if rr.ResourceName == "" {
			return errorf(kerr.InvalidRequest, notInt, "")
		}
		if _, err := b.parseBrokerResource(rr.ResourceName, notInt, "Unexpected node id. Expected %d, but received %s"); err != nil {
			return err
		}
		return b.alterLogLevels(rr.Configs, validateOnly)
	case resourceGroup:
		name := rr.ResourceName
		edit := func(cur map[string]string) (map[string]string, error) {
			next, err := applyIncrementalWith(cur, rr.Configs, noListKeys, false)
			if err != nil {
				return nil, err
			}
			return next, b.validGroupConfigs(name, next)
		}
		if validateOnly || name == "" {
			_, err := edit(b.GroupConfig(name))
			return err
		}
		next, err := b.editNamed(ctx, metadata.GroupConfigs, name, edit)
		if err == nil {
			b.groupConfigsAltered(ctx, name, next)
		}
		return err
	case resourceClientMetrics:
		name := rr.ResourceName
		edit := func(cur map[string]string) (map[string]string, error) {
			next, err := applyIncrementalWith(cur, rr.Configs, clientMetricsLookup, false)
			if err != nil {
				return nil, err
			}
			return next, validateClientMetrics(name, next)
		}
		if validateOnly || name == "" {
			_, err := edit(b.clientMetrics.get(name))
			return err
		}
		next, err := b.editNamed(ctx, metadata.ClientMetricsConfigs, name, edit)
		if err == nil {
			b.clientMetricsAltered(ctx, name, next)
		}
		return err
	}
	return errorf(kerr.InvalidRequest, "Unknown resource type %d", rr.ResourceType)
}

// editNamed applies edit to a group's or subscription's configs as the
// store holds them (a change made just before through another broker is
// built on, not lost) and returns what was written.
func (b *Broker) editNamed(ctx context.Context, kind metadata.NamedConfigs, name string, edit func(map[string]string) (map[string]string, error)) (map[string]string, error) {
	var written map[string]string
	err := b.backend.EditNamedConfigs(ctx, kind, name, func(cur map[string]string) (map[string]string, error) {
		next, err := edit(cur)
		if err != nil {
			return nil, err
		}
		written = next
		return next, nil
	})
	return written, err
}

// checkIncrementalOps rejects, in Kafka's order (its
// ConfigAdminManager.preprocess), a name given twice, null values for
// SET, APPEND and SUBTRACT, then unknown ops.
func checkIncrementalOps(cs []kmsg.IncrementalAlterConfigsRequestResourceConfig) error {
	seen := make(map[string]bool, len(cs))
	for _, c := range cs {
		if seen[c.Name] {
			return errDuplicateKeys
		}
		seen[c.Name] = true
	}
	var nulls []string
	for _, c := range cs {
		if c.Op != opDelete && c.Value == nil {
			nulls = append(nulls, c.Name)
		}
	}
	if len(nulls) > 0 {
		return errorf(kerr.InvalidRequest, "Null value not supported for : %s", strings.Join(nulls, ", "))
	}
	for _, c := range cs {
		if c.Op < opSet || c.Op > opSubtract {
			return errorf(kerr.InvalidRequest, "Unknown operations type %d", c.Op)
		}
	}
	return nil
}

// applyIncremental applies ops to a copy of cur, the overrides of a topic
// or the dynamic configs of a broker. APPEND and SUBTRACT start from the
// key's default when it is not set, as Kafka does.
func applyIncremental(cur map[string]string, cs []kmsg.IncrementalAlterConfigsRequestResourceConfig, topic bool) (map[string]string, error) {
	if topic {
		// Stored keys Kafka no longer knows are dropped, not refused.
		cur = config.KnownTopicConfigs(cur)
	}
	return applyIncrementalWith(cur, cs, func(name string) (*config.Key, bool) { return config.Lookup(name, topic) }, !topic)
}

// applyIncrementalWith is applyIncremental with the keys of lookup. APPEND
// or SUBTRACT of a key that is not a list is refused in the words of the
// broker's ConfigAdminManager.prepareIncrementalConfigs for a broker
// resource, else in those of the controller's ConfigurationControlManager.
func applyIncrementalWith(cur map[string]string, cs []kmsg.IncrementalAlterConfigsRequestResourceConfig, lookup func(string) (*config.Key, bool), broker bool) (map[string]string, error) {
	next := make(map[string]string, len(cur))
	maps.Copy(next, cur)
	for _, c := range cs {
		switch c.Op {
		case opSet:
			next[c.Name] = *c.Value
		case opDelete:
			delete(next, c.Name)
		case opAppend, opSubtract:
			k, ok := lookup(c.Name)
			if !ok || k.Type != config.List {
				return nil, notList(c.Name, int8(c.Op), ok, broker)
			}
			old, set := next[c.Name]
			if !set {
				old = k.Default
			}
			v := strings.Join(editList(splitItems(old), splitItems(*c.Value), c.Op == opAppend), ",")
			if len(v) > protocol.MaxStringLen {
				// No response could carry it: every DescribeConfigs of
				// the resource would fail. Kafka's controller cannot
				// write such a ConfigRecord either.
				return nil, errorf(kerr.InvalidConfig, "Appending to %s would make its value %d bytes long, longer than a config value can be (%d)", c.Name, len(v), protocol.MaxStringLen)
			}
			next[c.Name] = v
		}
	}
	return next, nil
}

// noListKeys looks up the group configs for APPEND and SUBTRACT: none is
// a list.
func noListKeys(string) (*config.Key, bool) { return nil, false }

// notList refuses APPEND or SUBTRACT of a key that is not a list (or not
// known).
func notList(name string, op int8, known, broker bool) error {
	switch {
	case !broker:
		verb := map[int8]string{opAppend: "APPEND", opSubtract: "SUBTRACT"}[op]
		return errorf(kerr.InvalidConfig, "Can't %s to key %s because its type is not LIST.", verb, name)
	case !known:
		return errorf(kerr.InvalidConfig, "Unknown config name: %s", name)
	}
	verb := map[int8]string{opAppend: "append", opSubtract: "subtract"}[op]
	return errorf(kerr.InvalidConfig, "Config value %s is not allowed for config key: %s", verb, name)
}

// editList appends the items not yet present, or removes every item given.
func editList(old, items []string, add bool) []string {
	if !add {
		return slices.DeleteFunc(old, func(o string) bool { return slices.Contains(items, o) })
	}
	for _, it := range items {
		if !slices.Contains(old, it) {
			old = append(old, it)
		}
	}
	return old
}

func splitItems(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// alterLogLevels sets or deletes the levels of this broker's loggers
// (BROKER_LOGGER), as Kafka's RuntimeLoggerManager: every op is checked
// first, then all apply.
func (b *Broker) alterLogLevels(ops []kmsg.IncrementalAlterConfigsRequestResourceConfig, validateOnly bool) error {
	exists := func(name string) error {
		if !b.logLevels.Exists(name) {
			return errorf(kerr.InvalidConfig, "Logger %s does not exist!", name)
		}
		return nil
	}
	for _, op := range ops {
		switch op.Op {
		case opSet:
			if err := exists(op.Name); err != nil {
				return err
			}
			value := ""
			if op.Value != nil {
				value = *op.Value
			}
			if _, ok := loglevel.ParseKafka(value); !ok {
				return errorf(kerr.InvalidConfig, "Cannot set the log level of %s to %s as it is not a supported log level. Valid log levels are %s", op.Name, value, loglevel.ValidKafkaNames)
			}
		case opDelete:
			if err := exists(op.Name); err != nil {
				return err
			}
			if op.Name == loglevel.Root {
				return errorf(kerr.InvalidRequest, "Removing the log level of the %s logger is not allowed", loglevel.Root)
			}
		case opAppend:
			return errorf(kerr.InvalidRequest, "APPEND operation is not allowed for the BROKER_LOGGER resource")
		case opSubtract:
			return errorf(kerr.InvalidRequest, "SUBTRACT operation is not allowed for the BROKER_LOGGER resource")
		default:
			return errorf(kerr.InvalidRequest, "Unknown operation type %d is not allowed for the BROKER_LOGGER resource", op.Op)
		}
	}
	if validateOnly {
		return nil
	}
	for _, op := range ops {
		if op.Op == opSet {
			lvl, _ := loglevel.ParseKafka(*op.Value)
			b.logLevels.Set(op.Name, lvl)
			b.log.Warn().Str("logger", op.Name).Str("level", *op.Value).Msg("updated the log level")
		} else {
			b.logLevels.Unset(op.Name)
			b.log.Warn().Str("logger", op.Name).Msg("unset the log level; it follows the root logger's again")
		}
	}
	return nil
}
