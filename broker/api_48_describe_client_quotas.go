package broker

// DescribeClientQuotas (key 48), versions 0-1 (every version kmsg knows),
// as Kafka's ZkAdminManager answers it, read from the metadata store
// itself so a change made through any broker shows at once.
//
// The filter has at most one component per entity type (user, client-id,
// ip): match type 0 names an entity (match must be set), 1 the default
// (match null), 2 any specified entity of the type (match null). An
// entity matches when each component matches its part and, with strict,
// it has no part the filter does not name. A duplicate component, an
// empty entity type, a bad match or ip combined with user/client-id is
// INVALID_REQUEST for the whole request; another entity type is
// UNSUPPORTED_VERSION, as Kafka answers custom types. The messages are
// Kafka 4.0's (ClientQuotasImage.describe). An ip entity has
// no other part, so a filter on user or client-id never matches one, and
// an ip filter never matches a user or client-id entity.

import (
	"context"

	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/broker/metadata"
	"gregor/protocol"
)

// Quota entity types on the wire.
const (
	entityUser     = "user"
	entityClientID = "client-id"
	entityIP       = "ip"
)

// quotaFilter is one parsed component: any specified (anyName), the
// default (name nil), or a name.
type quotaFilter struct {
	set     bool
	anyName bool
	name    *string
}

// matches is Kafka's matches(component, name) for one part of an entity,
// the part given as its sanitized form ("" absent).
func (f quotaFilter) matches(part string, strict bool) bool {
	if !f.set {
		return part == "" || !strict
	}
	if part == "" {
		return false
	}
	switch {
	case f.anyName:
		return true
	case f.name == nil:
		return part == metadata.DefaultEntity
	default:
		return part == metadata.SanitizeEntity(*f.name)
	}
}

func (b *Broker) handleDescribeClientQuotas(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DescribeClientQuotasRequest)
	resp := req.Response().(*kmsg.DescribeClientQuotasResponse)
	fail := func(code *kerr.Error, msg string) (kmsg.Response, error) {
		resp.ErrorCode, resp.ErrorMessage, resp.Entries = code.Code, &msg, nil
		return resp, nil
	}
	// As Kafka: quotas are the cluster's configuration.
	if !b.authorizeCluster(req, acl.DescribeConfigs) {
		return fail(kerr.ClusterAuthorizationFailed, "Cluster authorization failed.")
	}
	var user, client, ip quotaFilter
	for _, c := range r.Components {
		var f *quotaFilter
		switch c.EntityType {
		case entityUser:
			f = &user
		case entityClientID:
			f = &client
		case entityIP:
			f = &ip
		case "":
			return fail(kerr.InvalidRequest, "Invalid empty entity type.")
		default:
			return fail(kerr.UnsupportedVersion, "Unsupported entity type "+c.EntityType)
		}
		if f.set {
			return fail(kerr.InvalidRequest, fmt.Sprintf("Entity type %s cannot appear more than once in the filter.", c.EntityType))
		}
		f.set = true
		switch c.MatchType {
		case 0:
			if c.Match == nil {
				return fail(kerr.InvalidRequest, "Request specified MATCH_TYPE_EXACT, but set match string to null.")
			}
			f.name = c.Match
		case 1:
			if c.Match != nil {
				return fail(kerr.InvalidRequest, "Request specified MATCH_TYPE_DEFAULT, but also specified a match string.")
			}
		case 2:
			if c.Match != nil {
				return fail(kerr.InvalidRequest, "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string.")
			}
			f.anyName = true
		default:
			return fail(kerr.InvalidRequest, fmt.Sprintf("Unknown match type %d", c.MatchType))
		}
	}
	if ip.set && (user.set || client.set) {
		return fail(kerr.InvalidRequest, "Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component.")
	}
	resp.Entries = []kmsg.DescribeClientQuotasResponseEntry{}
	qb, ok := b.backend.(metadata.QuotaBackend)
	if !ok {
		return fail(kerr.UnknownServerError, "client quotas are not kept by this metadata backend")
	}
	all, err := qb.ClientQuotas(ctx)
	if err != nil {
		b.log.Warn().Err(err).Msg("reading client quotas")
		return fail(kerr.UnknownServerError, "reading client quotas: "+err.Error())
	}
	entities := make([]metadata.QuotaEntity, 0, len(all))
	for e := range all {
		if user.matches(e.User, r.Strict) && client.matches(e.ClientID, r.Strict) && ip.matches(e.IP, r.Strict) {
			entities = append(entities, e)
		}
	}
	slices.SortFunc(entities, func(x, y metadata.QuotaEntity) int { return strings.Compare(x.Path(), y.Path()) })
	for _, e := range entities {
		entry := kmsg.NewDescribeClientQuotasResponseEntry()
		for _, part := range []struct{ typ, name string }{{entityUser, e.User}, {entityClientID, e.ClientID}, {entityIP, e.IP}} {
			if part.name == "" {
				continue
			}
			ent := kmsg.NewDescribeClientQuotasResponseEntryEntity()
			ent.Type, ent.Name = part.typ, wireEntityName(part.name)
			entry.Entity = append(entry.Entity, ent)
		}
		vals := all[e]
		for _, k := range slices.Sorted(mapsKeys(vals)) {
			v := kmsg.NewDescribeClientQuotasResponseEntryValue()
			v.Key, v.Value = k, vals[k]
			entry.Values = append(entry.Values, v)
		}
		resp.Entries = append(resp.Entries, entry)
	}
	return resp, nil
}

// wireEntityName is a stored entity part as the wire names it: null for
// the default, the desanitized name otherwise.
func wireEntityName(sanitized string) *string {
	if sanitized == metadata.DefaultEntity {
		return nil
	}
	name, err := metadata.DesanitizeEntity(sanitized)
	if err != nil {
		name = sanitized
	}
	return &name
}
