package metadata

// Client quotas, stored as Kafka stores them: the quota keys of an entity
// config, as /config/users/<user>, /config/users/<user>/clients/<client>,
// /config/clients/<client> and /config/ips/<ip> (names sanitized,
// "<default>" for a default). A user's config holds its SCRAM credentials too; each kind of
// change keeps the other's keys. On a single broker they are kept in the
// local metadata file.

import (
	"context"
	"maps"
	"math"
	"strconv"
	"strings"
)

// Quota config keys (Kafka's QuotaConfigs).
const (
	ProducerByteRate       = "producer_byte_rate"
	ConsumerByteRate       = "consumer_byte_rate"
	RequestPercentage      = "request_percentage"
	ControllerMutationRate = "controller_mutation_rate"
	// ConnectionCreationRate is an ip entity's (KIP-612).
	ConnectionCreationRate = "connection_creation_rate"
)

// QuotaKeys are the quota keys of a user or client-id entity, each with
// whether its values are integral (Kafka's LONG) rather than DOUBLE.
var QuotaKeys = map[string]bool{
	ProducerByteRate:       true,
	ConsumerByteRate:       true,
	RequestPercentage:      false,
	ControllerMutationRate: false,
}

// IPQuotaKeys are the quota keys of an ip entity (all integral: Kafka's
// INT).
var IPQuotaKeys = map[string]bool{ConnectionCreationRate: true}

// KeysFor returns the quota keys an entity may have.
func (e QuotaEntity) KeysFor() map[string]bool {
	if e.IP != "" {
		return IPQuotaKeys
	}
	return QuotaKeys
}

// DefaultEntity names the default user or client id of a quota entity, as
// in Kafka's znode paths.
const DefaultEntity = "<default>"

// QuotaEntity names a client quota entity as ZooKeeper paths do: User,
// ClientID and IP are sanitized names (SanitizeEntity) or DefaultEntity;
// empty means the entity has no such part. An IP entity has no other part.
type QuotaEntity struct {
	User, ClientID, IP string
}

// Path is the entity's path under /config: users/<u>, users/<u>/clients/<c>,
// clients/<c> or ips/<ip>; "" for an empty entity.
func (e QuotaEntity) Path() string {
	switch {
	case e.IP != "":
		return "ips/" + e.IP
	case e.User != "" && e.ClientID != "":
		return "users/" + e.User + "/clients/" + e.ClientID
	case e.User != "":
		return "users/" + e.User
	case e.ClientID != "":
		return "clients/" + e.ClientID
	}
	return ""
}

// ParseQuotaPath is the inverse of Path.
func ParseQuotaPath(p string) (QuotaEntity, bool) {
	parts := strings.Split(p, "/")
	switch {
	case len(parts) == 2 && parts[0] == "users" && parts[1] != "":
		return QuotaEntity{User: parts[1]}, true
	case len(parts) == 2 && parts[0] == "clients" && parts[1] != "":
		return QuotaEntity{ClientID: parts[1]}, true
	case len(parts) == 2 && parts[0] == "ips" && parts[1] != "":
		return QuotaEntity{IP: parts[1]}, true
	case len(parts) == 4 && parts[0] == "users" && parts[2] == "clients" && parts[1] != "" && parts[3] != "":
		return QuotaEntity{User: parts[1], ClientID: parts[3]}, true
	}
	return QuotaEntity{}, false
}

// ClientQuotas is every entity's quotas: entity -> key -> value.
type ClientQuotas map[QuotaEntity]map[string]float64

// ClientQuotaApplier is implemented by Appliers that take client quotas;
// backends deliver the complete set at Start and after every change (in a
// cluster, as soon as ZooKeeper's watch fires), serialised with the other
// deliveries.
type ClientQuotaApplier interface {
	ApplyClientQuotas(ClientQuotas)
}

// QuotaAlteration is one entity's change: values to set and keys to
// remove. The caller has validated it.
type QuotaAlteration struct {
	Entity QuotaEntity
	Set    map[string]float64
	Remove []string
}

// QuotaBackend is implemented by backends that store client quotas (both
// of Gregor's do).
type QuotaBackend interface {
	// ClientQuotas reads every entity's quotas from the store itself.
	ClientQuotas(ctx context.Context) (ClientQuotas, error)
	// AlterClientQuota applies one entity's alteration; it returns once
	// recorded, and the change reaches every broker through
	// ClientQuotaApplier.
	AlterClientQuota(ctx context.Context, a QuotaAlteration) error
}

// QuotasFromConfig picks an entity's quota keys from its config; values
// that do not parse are left out.
func QuotasFromConfig(e QuotaEntity, cfg map[string]string) map[string]float64 {
	var out map[string]float64
	keys := e.KeysFor()
	for k, v := range cfg {
		if _, ok := keys[k]; !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			continue
		}
		if out == nil {
			out = map[string]float64{}
		}
		out[k] = f
	}
	return out
}

// AlterQuotaConfig applies an alteration to an entity config, keeping its
// other keys (a user's SCRAM credentials).
func AlterQuotaConfig(cfg map[string]string, a QuotaAlteration) map[string]string {
	next := maps.Clone(cfg)
	if next == nil {
		next = map[string]string{}
	}
	for _, k := range a.Remove {
		delete(next, k)
	}
	for k, v := range a.Set {
		next[k] = FormatQuota(k, v)
	}
	return next
}

// FormatQuota writes a quota value as Kafka does: a LONG key as an
// integer, a DOUBLE one as Java's Double.toString would ("50.0").
func FormatQuota(key string, v float64) string {
	if QuotaKeys[key] || IPQuotaKeys[key] {
		return strconv.FormatInt(int64(math.Round(v)), 10)
	}
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	return s
}
