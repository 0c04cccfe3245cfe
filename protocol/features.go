package protocol

// Finalized feature levels (KIP-584). The cluster's levels are set with
// UpdateFeatures and reach each broker through its metadata; until any is
// set, each feature's Default holds. ApiVersions advertises them with an
// epoch that grows with each change, and an API that stands for a feature
// (KIP-848's consumer groups for group.version, KIP-932's share groups for
// share.version) is answered UNSUPPORTED_VERSION while its feature is
// finalized at level 0, as Kafka answers it.

import (
	"context"
	"maps"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ShareVersion is share.version (KIP-932's share groups), registered by
// both the coordinator (the share group APIs) and the broker (ShareFetch
// and ShareAcknowledge) when they serve share groups.
var ShareVersion = Feature{Name: "share.version", Min: 0, Max: 1, Default: 1}

// SetFinalized takes the cluster's finalized levels (nil: none set, the
// defaults hold) and their epoch.
func (r *Registry) SetFinalized(levels map[string]int16, epoch int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.finalized = maps.Clone(levels)
	if epoch > r.epoch {
		r.epoch = epoch
	}
}

// FinalizedFeatures returns each registered feature's finalized level, at
// most what this broker supports, and the epoch.
func (r *Registry) FinalizedFeatures() (map[string]int16, int64) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make(map[string]int16, len(r.features))
	for _, f := range r.features {
		out[f.Name] = r.levelLocked(f)
	}
	return out, r.epoch
}

// FeatureLevel returns a feature's finalized level (0 for a feature this
// broker does not support).
func (r *Registry) FeatureLevel(name string) int16 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, f := range r.features {
		if f.Name == name {
			return r.levelLocked(f)
		}
	}
	return 0
}

func (r *Registry) levelLocked(f Feature) int16 {
	level := f.Default
	if r.finalized != nil {
		level = r.finalized[f.Name]
	}
	return min(level, f.Max)
}

// FeatureGate wraps the handler of an API that stands for a feature:
// while the feature is finalized below level 1 the request is answered
// UNSUPPORTED_VERSION.
func (r *Registry) FeatureGate(feature string, h Handler) Handler {
	return func(ctx context.Context, req *Request) (kmsg.Response, error) {
		if r.FeatureLevel(feature) < 1 {
			return unsupportedByFeature(req), nil
		}
		return h(ctx, req)
	}
}

// unsupportedByFeature is a request's UNSUPPORTED_VERSION answer, as
// Kafka's getErrorResponse builds it: the top-level error, or each
// group's.
func unsupportedByFeature(req *Request) kmsg.Response {
	code := kerr.UnsupportedVersion.Code
	resp := req.Response()
	switch r := resp.(type) {
	case *kmsg.ConsumerGroupHeartbeatResponse:
		r.ErrorCode = code
	case *kmsg.ShareGroupHeartbeatResponse:
		r.ErrorCode = code
	case *kmsg.ShareFetchResponse:
		r.ErrorCode = code
	case *kmsg.ShareAcknowledgeResponse:
		r.ErrorCode = code
	case *kmsg.AlterShareGroupOffsetsResponse:
		r.ErrorCode = code
	case *kmsg.DeleteShareGroupOffsetsResponse:
		r.ErrorCode = code
	case *kmsg.ConsumerGroupDescribeResponse:
		for _, g := range req.Body.(*kmsg.ConsumerGroupDescribeRequest).Groups {
			rg := kmsg.NewConsumerGroupDescribeResponseGroup()
			rg.Group, rg.ErrorCode = g, code
			r.Groups = append(r.Groups, rg)
		}
	case *kmsg.ShareGroupDescribeResponse:
		for _, g := range req.Body.(*kmsg.ShareGroupDescribeRequest).GroupIDs {
			rg := kmsg.NewShareGroupDescribeResponseGroup()
			rg.GroupID, rg.ErrorCode = g, code
			r.Groups = append(r.Groups, rg)
		}
	case *kmsg.DescribeShareGroupOffsetsResponse:
		for _, g := range req.Body.(*kmsg.DescribeShareGroupOffsetsRequest).Groups {
			rg := kmsg.NewDescribeShareGroupOffsetsResponseGroup()
			rg.GroupID, rg.ErrorCode = g.GroupID, code
			r.Groups = append(r.Groups, rg)
		}
	}
	return resp
}
