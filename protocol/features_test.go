package protocol

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Finalized levels: the defaults until the cluster sets some, then those
// (capped at what the broker supports), with ApiVersions' epoch growing
// and a feature at level 0 left out of the finalized list.
func TestFinalizedFeatureLevels(t *testing.T) {
	reg := heartbeatRegistry()
	reg.RegisterFeature(Feature{Name: "group.version", Min: 0, Max: 1, Default: 1})
	reg.RegisterFeature(Feature{Name: "transaction.version", Min: 0, Max: 2, Default: 2})
	if l := reg.FeatureLevel("group.version"); l != 1 {
		t.Fatalf("default group.version %d, want 1", l)
	}
	reg.SetFinalized(map[string]int16{"transaction.version": 7}, 5)
	levels, epoch := reg.FinalizedFeatures()
	if levels["group.version"] != 0 || levels["transaction.version"] != 2 || epoch != 5 {
		t.Fatalf("after a change: %v epoch %d, want group.version 0, transaction.version capped at 2, epoch 5", levels, epoch)
	}
	if l := reg.FeatureLevel("no.such.feature"); l != 0 {
		t.Fatalf("an unknown feature has level %d", l)
	}
	_, addr := startServer(t, reg, 0)
	c := dial(t, addr)
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version, req.ClientSoftwareName, req.ClientSoftwareVersion = 4, "gregor-test", "1.0.0"
	send(t, c, frameFor(req, 9))
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 4
	readResponse(t, c, resp)
	if resp.FinalizedFeaturesEpoch != 5 || len(resp.FinalizedFeatures) != 1 || resp.FinalizedFeatures[0].Name != "transaction.version" {
		t.Fatalf("ApiVersions finalized %+v epoch %d, want only transaction.version at epoch 5", resp.FinalizedFeatures, resp.FinalizedFeaturesEpoch)
	}
	if len(resp.SupportedFeatures) != 2 {
		t.Fatalf("a feature finalized at 0 is still supported: %+v", resp.SupportedFeatures)
	}
}

// An API behind a feature at level 0 is answered UNSUPPORTED_VERSION,
// per group where the response has groups.
func TestFeatureGate(t *testing.T) {
	reg := NewRegistry()
	reg.RegisterFeature(Feature{Name: "group.version", Min: 0, Max: 1, Default: 1})
	served := 0
	h := reg.FeatureGate("group.version", func(_ context.Context, req *Request) (kmsg.Response, error) {
		served++
		return req.Response(), nil
	})
	describe := &Request{Key: 69, Version: 0, Body: &kmsg.ConsumerGroupDescribeRequest{Groups: []string{"a", "b"}}}
	if _, err := h(context.Background(), describe); err != nil || served != 1 {
		t.Fatalf("at level 1 the handler ran %d times (%v)", served, err)
	}
	reg.SetFinalized(map[string]int16{}, 2)
	resp, err := h(context.Background(), describe)
	if err != nil || served != 1 {
		t.Fatalf("at level 0 the handler ran (%d, %v)", served, err)
	}
	groups := resp.(*kmsg.ConsumerGroupDescribeResponse).Groups
	if len(groups) != 2 || groups[0].ErrorCode != kerr.UnsupportedVersion.Code || groups[1].Group != "b" {
		t.Fatalf("at level 0 ConsumerGroupDescribe answered %+v", groups)
	}
	hb := &Request{Key: 68, Version: 0, Body: &kmsg.ConsumerGroupHeartbeatRequest{}}
	resp, _ = h(context.Background(), hb)
	if code := resp.(*kmsg.ConsumerGroupHeartbeatResponse).ErrorCode; code != kerr.UnsupportedVersion.Code {
		t.Fatalf("at level 0 ConsumerGroupHeartbeat answered %v", kerr.ErrorForCode(code))
	}
}
