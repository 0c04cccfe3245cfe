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
	"time"

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
	for _, e := range r.Entries {
		out := kmsg.NewAlterClientQuotasResponseEntry()
		for _, ent := range e.Entity {
			oe := kmsg.NewAlterClientQuotasResponseEntryEntity()
			oe.Type, oe.Name = ent.Type, ent.Name
			out.Entity = append(out.Entity, oe)
		}
		if !allowed {
			out.ErrorCode = kerr.ClusterAuthorizationFailed.Code
			resp.Entries = append(resp.Entries, out)
			continue
		}
		a, err := quotaAlteration(ctx, e)
		if err == nil && qb == nil {
			err = errorf(kerr.UnknownServerError, "client quotas are not kept by this metadata backend")
		}
		if err == nil && !r.ValidateOnly {
			if err = qb.AlterClientQuota(ctx, a); err != nil {
				b.log.Warn().Err(err).Str("entity", a.Entity.Path()).Msg("storing client quotas")
			}
		}
		if err != nil {
			out.ErrorCode, out.ErrorMessage = ErrorCode(b.log, err), errMessage(err)
		}
		resp.Entries = append(resp.Entries, out)
	}
	return resp, nil
}

// quotaAlteration checks one entry and turns it into an alteration.
func quotaAlteration(ctx context.Context, e kmsg.AlterClientQuotasRequestEntry) (metadata.QuotaAlteration, error) {
	var a metadata.QuotaAlteration
	// A key twice in one entry refuses it, before the entity is looked
	// at, as ClientQuotaControlManager.alterClientQuotas does.
	seen := map[string]bool{}
	for _, op := range e.Ops {
		if seen[op.Key] {
			return a, errorf(kerr.InvalidRequest, "Duplicate quota key %s not updating quota for this entity", op.Key)
		}
		seen[op.Key] = true
	}
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
