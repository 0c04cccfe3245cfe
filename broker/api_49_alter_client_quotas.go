package broker

// AlterClientQuotas (key 49), versions 0-1 (every version kmsg knows), as
// Kafka's ZkAdminManager.alterClientQuotas: each entry is checked and
// stored on its own and answered with its own error.
//
//   - The entity has a user, a client-id or both, or an ip alone (an
//     empty name is INVALID_REQUEST, a null one the default); any other
//     type, or none, or an ip with a user or client-id, is
//     INVALID_REQUEST, as is an ip that is neither an address nor a
//     resolvable host.
//   - A key must be one of the entity's quota keys: the four client quota
//     keys for users and client-ids (producer_byte_rate and
//     consumer_byte_rate integral, Kafka's LONG), connection_creation_rate
//     for an ip (integral, Kafka's INT; KIP-612, enforced as
//     protocol/connrate.go describes). A value must be above zero (as
//     KRaft requires; a zero quota would throttle forever). Remove drops
//     the key whatever the value, and is not validated: removing a key
//     the entity cannot have is a no-op, as in KRaft. A key twice in one
//     entry is INVALID_REQUEST for it.
//   - validate_only checks without storing.
//
// A stored change reaches every broker through the metadata backend (in
// a cluster, ZooKeeper's watches), usually within milliseconds.

import (
	"context"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/broker/metadata"
	"gregor/protocol"
)

func (b *Broker) handleAlterClientQuotas(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.AlterClientQuotasRequest)
	resp := req.Response().(*kmsg.AlterClientQuotasResponse)
	qb, _ := b.backend.(metadata.QuotaBackend)
	// As Kafka: altering quotas is altering the cluster's configuration;
	// without ALTER_CONFIGS on it every entry fails.
	allowed := b.authorizeCluster(req, acl.AlterConfigs)
	results := map[string]error{} // by entity (quotaEntityKey): its last outcome
	if allowed {
		for _, e := range r.Entries {
			results[quotaEntityKey(e.Entity)] = b.alterClientQuota(ctx, qb, e, r.ValidateOnly, results)
		}
	}
	for _, e := range r.Entries {
		out := kmsg.NewAlterClientQuotasResponseEntry()
		for _, ent := range e.Entity {
			oe := kmsg.NewAlterClientQuotasResponseEntryEntity()
			oe.Type, oe.Name = ent.Type, ent.Name
			out.Entity = append(out.Entity, oe)
		}
		if !allowed {
			out.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		} else if err := results[quotaEntityKey(e.Entity)]; err != nil {
			out.ErrorCode, out.ErrorMessage = ErrorCode(b.log, err), errMessage(err)
		}
		resp.Entries = append(resp.Entries, out)
	}
	return resp, nil
}

// alterClientQuota checks and stores one entry. As Kafka's
// ClientQuotaControlManager.alterClientQuotas, an entry naming a key twice,
// or an entity an earlier entry of the request named, is refused with
// "Ignoring duplicate entity ..." and not applied, and the request answers
// every entry of an entity with the entity's last outcome (Kafka answers
// once per entity): an entity named twice is answered refused though its
// first entry was applied, as in Kafka.
func (b *Broker) alterClientQuota(ctx context.Context, qb metadata.QuotaBackend, e kmsg.AlterClientQuotasRequestEntry, validateOnly bool, results map[string]error) error {
	_, seen := results[quotaEntityKey(e.Entity)]
	if seen || duplicateQuotaKey(e.Ops) {
		return errorf(kerr.InvalidRequest, "Ignoring duplicate entity %s", javaQuotaEntity(e.Entity))
	}
	a, err := quotaAlteration(ctx, e)
	if err == nil && qb == nil {
		err = errorf(kerr.UnknownServerError, "client quotas are not kept by this metadata backend")
	}
	if err == nil && !validateOnly {
		if err = qb.AlterClientQuota(ctx, a); err != nil {
			b.log.Warn().Err(err).Str("entity", a.Entity.Path()).Msg("storing client quotas")
		}
	}
	return err
}

// duplicateQuotaKey reports an entry naming a key twice.
func duplicateQuotaKey(ops []kmsg.AlterClientQuotasRequestEntryOp) bool {
	seen := map[string]bool{}
	for _, op := range ops {
		if seen[op.Key] {
			return true
		}
		seen[op.Key] = true
	}
	return false
}

// quotaEntityParts is an entry's entity as Kafka's
// AlterClientQuotasRequest.entries reads it: a map of type to name (nil:
// the default), a type named twice keeping its last name, in the order
// the types first appear.
func quotaEntityParts(ents []kmsg.AlterClientQuotasRequestEntryEntity) (types []string, names map[string]*string) {
	names = map[string]*string{}
	for _, ent := range ents {
		if _, ok := names[ent.Type]; !ok {
			types = append(types, ent.Type)
		}
		names[ent.Type] = ent.Name
	}
	return types, names
}

// quotaEntityKey identifies an entity whatever the order of its parts, as
// Kafka's ClientQuotaEntity compares its map.
func quotaEntityKey(ents []kmsg.AlterClientQuotasRequestEntryEntity) string {
	types, names := quotaEntityParts(ents)
	slices.Sort(types)
	var sb strings.Builder
	for _, t := range types {
		sb.WriteString(strconv.Quote(t))
		if n := names[t]; n != nil {
			sb.WriteString("=" + strconv.Quote(*n))
		}
		sb.WriteString(";")
	}
	return sb.String()
}

// javaQuotaEntity is ClientQuotaEntity.toString of an entry's entity:
// "ClientQuotaEntity(entries={user=alice, client-id=null})", its parts in
// the order a java.util.HashMap made with their number as its capacity
// iterates them.
func javaQuotaEntity(ents []kmsg.AlterClientQuotasRequestEntryEntity) string {
	types, names := quotaEntityParts(ents)
	parts := make([]string, 0, len(types))
	for _, t := range javaHashMapOrder(types, len(ents)) {
		n := "null"
		if names[t] != nil {
			n = *names[t]
		}
		parts = append(parts, t+"="+n)
	}
	return "ClientQuotaEntity(entries={" + strings.Join(parts, ", ") + "})"
}

// javaHashMapOrder is the order java.util.HashMap, made with an initial
// capacity, iterates keys put in the given order: by bucket (the key's
// spread String.hashCode masked by the table size, which doubles as the
// map fills past three quarters), a bucket's keys in insertion order.
func javaHashMapOrder(keys []string, capacity int) []string {
	size := 1 // tableSizeFor(capacity)
	for size < capacity {
		size <<= 1
	}
	threshold := size * 3 / 4
	for n := 1; n <= len(keys); n++ {
		if n > threshold {
			size <<= 1
			threshold = size * 3 / 4
		}
	}
	bucket := func(k string) int {
		var h int32
		for _, c := range utf16.Encode([]rune(k)) {
			h = 31*h + int32(c)
		}
		return int((uint32(h) ^ uint32(h)>>16) & uint32(size-1))
	}
	out := slices.Clone(keys)
	slices.SortStableFunc(out, func(a, b string) int { return bucket(a) - bucket(b) })
	return out
}

// quotaAlteration checks one entry and turns it into an alteration.
func quotaAlteration(ctx context.Context, e kmsg.AlterClientQuotasRequestEntry) (metadata.QuotaAlteration, error) {
	var a metadata.QuotaAlteration
	if len(e.Entity) == 0 {
		return a, errorf(kerr.InvalidRequest, "Invalid empty client quota entity")
	}
	// Each part's type, then its name, as ClientQuotaControlManager
	// .validateEntity checks them.
	for _, ent := range e.Entity {
		var part *string
		switch ent.Type {
		case entityUser:
			part = &a.Entity.User
		case entityClientID:
			part = &a.Entity.ClientID
		case entityIP:
			part = &a.Entity.IP
		default:
			return a, errorf(kerr.InvalidRequest, "Unhandled client quota entity type: %s", ent.Type)
		}
		*part = metadata.DefaultEntity
		if ent.Name != nil {
			if *ent.Name == "" {
				return a, errorf(kerr.InvalidRequest, "Empty %s not supported", ent.Type)
			}
			*part = metadata.SanitizeEntity(*ent.Name)
		}
	}
	if a.Entity.IP != "" {
		if a.Entity.User != "" || a.Entity.ClientID != "" {
			// Kafka 4.0's words, its missing space included.
			return a, errorf(kerr.InvalidRequest, "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId")
		}
		if a.Entity.IP != metadata.DefaultEntity && !validIPEntity(ctx, *quotaIPName(e)) {
			return a, errorf(kerr.InvalidRequest, "%s is not a valid IP or resolvable host.", *quotaIPName(e))
		}
	}
	keys := a.Entity.KeysFor()
	for _, op := range e.Ops {
		long, known := keys[op.Key]
		if op.Remove {
			// As Kafka's ClientQuotaControlManager: a removal is not
			// validated, and one of a key the entity cannot have has
			// nothing to remove.
			if known {
				a.Remove = append(a.Remove, op.Key)
			}
			continue
		}
		v, err := quotaValue(op.Key, op.Value, known, long, a.Entity.IP != "")
		if err != nil {
			return a, err
		}
		if a.Set == nil {
			a.Set = map[string]float64{}
		}
		a.Set[op.Key] = v
	}
	return a, nil
}

// quotaValue is ClientQuotaControlManager.validateQuotaKeyValue's checks,
// in its order and words: a known key, above zero, within its type, and
// integral for an integral type (within 1e-6). An integral value is kept
// as the integer, as the znodes hold it. NaN and infinities are refused
// too.
func quotaValue(key string, v float64, known, integral, ip bool) (float64, error) {
	if !known {
		return 0, errorf(kerr.InvalidRequest, "Invalid configuration key %s", key)
	}
	if v <= 0 {
		return 0, errorf(kerr.InvalidRequest, "Quota %s must be greater than 0", key)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, errorf(kerr.InvalidRequest, "Quota %s must be a finite number, not %v", key, v)
	}
	if !integral {
		return v, nil
	}
	if ip && v > math.MaxInt32 {
		return 0, errorf(kerr.InvalidRequest, "Proposed value for %s is too large for an INT.", key)
	}
	if v > math.MaxInt64 {
		return 0, errorf(kerr.InvalidRequest, "Proposed value for %s is too large for a LONG.", key)
	}
	if math.Abs(math.Mod(v, 1)) > 1e-6 {
		return 0, errorf(kerr.InvalidRequest, "%s cannot be a fractional value.", key)
	}
	return math.Trunc(v), nil
}

// quotaIPName is the ip part's name of an entry's entity (nil: none or the
// default).
func quotaIPName(e kmsg.AlterClientQuotasRequestEntry) *string {
	for _, ent := range e.Entity {
		if ent.Type == entityIP {
			return ent.Name
		}
	}
	return nil
}

// validIPEntity is Kafka's isValidIpEntity: an address, or a host name
// that resolves.
func validIPEntity(ctx context.Context, name string) bool {
	if net.ParseIP(name) != nil {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, name)
	return err == nil && len(addrs) > 0
}
