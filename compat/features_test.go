package compat

// Finalized feature levels (KIP-584): UpdateFeatures, as kadm-less kmsg
// requests and as kafka-features.sh sends them, with what a client sees
// in ApiVersions and from the APIs a feature stands for.

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/internal/brokertest"
)

type featureUpdate struct {
	name  string
	level int16
	typ   int8 // 1 upgrade, 2 safe downgrade, 3 unsafe downgrade
}

// updateFeatures sends UpdateFeatures at a version and returns the
// top-level error code and message and, before v2, each feature's code.
func updateFeatures(t *testing.T, addr string, version int16, validateOnly bool, us ...featureUpdate) (int16, string, map[string]int16) {
	t.Helper()
	resp := updateFeaturesResponse(t, addr, version, validateOnly, us...)
	msg := ""
	if resp.ErrorMessage != nil {
		msg = *resp.ErrorMessage
	}
	results := map[string]int16{}
	for _, r := range resp.Results {
		results[r.Feature] = r.ErrorCode
	}
	return resp.ErrorCode, msg, results
}

// updateFeaturesResponse sends UpdateFeatures at a version and returns
// the answer.
func updateFeaturesResponse(t *testing.T, addr string, version int16, validateOnly bool, us ...featureUpdate) *kmsg.UpdateFeaturesResponse {
	t.Helper()
	cl := pinnedClient(t, addr, 57, version)
	defer cl.Close()
	req := kmsg.NewPtrUpdateFeaturesRequest()
	req.ValidateOnly = validateOnly
	for _, u := range us {
		fu := kmsg.NewUpdateFeaturesRequestFeatureUpdate()
		fu.Feature, fu.MaxVersionLevel, fu.UpgradeType = u.name, u.level, u.typ
		fu.AllowDowngrade = u.typ != 1
		req.FeatureUpdates = append(req.FeatureUpdates, fu)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Version != version {
		t.Fatalf("UpdateFeatures went at v%d, want v%d", resp.Version, version)
	}
	return resp
}

// finalizedFeatures returns ApiVersions' finalized levels and epoch.
func finalizedFeatures(t *testing.T, addr string) (map[string]int16, int64) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req := kmsg.NewPtrApiVersionsRequest()
	req.ClientSoftwareName, req.ClientSoftwareVersion = "gregor-compat", "1.0.0"
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int16{}
	for _, f := range resp.FinalizedFeatures {
		out[f.Name] = f.MaxVersionLevel
	}
	return out, resp.FinalizedFeaturesEpoch
}

// heartbeatCode sends one ConsumerGroupHeartbeat (or, share, one
// ShareGroupHeartbeat) joining a new group and returns its error code.
func heartbeatCode(t *testing.T, addr string, share bool) int16 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	group := randomName("feature-group")
	if share {
		req := kmsg.NewPtrShareGroupHeartbeatRequest()
		req.GroupID, req.MemberID, req.MemberEpoch = group, "m1-aaaaaaaaaaaaaaaaaaaa", 0
		req.SubscribedTopicNames = []string{"t"}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.ErrorCode
	}
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Group, req.MemberID, req.MemberEpoch, req.RebalanceTimeoutMillis = group, "m1-aaaaaaaaaaaaaaaaaaaa", 0, 30000
	req.SubscribedTopicNames = []string{"t"}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.ErrorCode
}

func TestUpdateFeatures(t *testing.T) {
	if !usingGregor() {
		t.Skip("changes the cluster's feature levels; runs on its own broker")
	}
	b := brokertest.Start(t, brokertest.Options{})
	levels, epoch := finalizedFeatures(t, b.Addr)
	if levels["group.version"] != 1 || levels["transaction.version"] != 2 || levels["share.version"] != 1 {
		t.Fatalf("a new broker finalizes %v, want group.version 1, share.version 1, transaction.version 2", levels)
	}

	// Refusals change nothing, and fail the whole request: the top-level
	// error alone, behind QuorumController.updateFeatures' sentence, with
	// no per-feature results even at v1.
	for _, c := range []struct {
		us   []featureUpdate
		want string
	}{
		{[]featureUpdate{{"group.version", 0, 1}}, "Can't downgrade the version of this feature without setting the upgrade type to either safe or unsafe downgrade."},
		{[]featureUpdate{{"transaction.version", 3, 1}}, "only supports versions 0-2"},
		{[]featureUpdate{{"group.version", 1, 2}, {"transaction.version", 2, 2}, {"share.version", -1, 2}}, "A feature version cannot be less than 0."},
		{[]featureUpdate{{"metadata.version", 22, 1}}, "does not support this feature."},
		{[]featureUpdate{{"no.such.feature", 0, 2}}, "Feature no.such.feature not found."},
		{[]featureUpdate{{"group.version", 0, 7}}, "The controller does not support the given upgrade type."},
	} {
		const prefix = "The update failed for all features since the following feature had an error: Invalid update version "
		code, msg, results := updateFeatures(t, b.Addr, 1, false, c.us...)
		if code != kerr.InvalidUpdateVersion.Code || !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, c.want) {
			t.Errorf("%v: got %v %q, want INVALID_UPDATE_VERSION with %q after %q", c.us, kerr.ErrorForCode(code), msg, c.want, prefix)
		}
		if len(results) != 0 {
			t.Errorf("%v: v1 refusal has per-feature results %v, want none", c.us, results)
		}
	}
	// A dry run changes nothing either.
	if code, msg, _ := updateFeatures(t, b.Addr, 2, true, featureUpdate{"group.version", 0, 2}); code != 0 {
		t.Fatalf("validate-only downgrade: %v %s", kerr.ErrorForCode(code), msg)
	}
	if after, e := finalizedFeatures(t, b.Addr); after["group.version"] != 1 || e != epoch {
		t.Fatalf("after refusals and a dry run: %v at epoch %d, want group.version 1 at epoch %d", after, e, epoch)
	}
	if code := heartbeatCode(t, b.Addr, false); code == kerr.UnsupportedVersion.Code {
		t.Fatal("ConsumerGroupHeartbeat is UNSUPPORTED_VERSION at group.version 1")
	}

	// group.version 0: KIP-848 groups are off, and ApiVersions says so.
	if code, msg, _ := updateFeatures(t, b.Addr, 2, false, featureUpdate{"group.version", 0, 2}); code != 0 {
		t.Fatalf("downgrading group.version: %v %s", kerr.ErrorForCode(code), msg)
	}
	levels, e := finalizedFeatures(t, b.Addr)
	if _, ok := levels["group.version"]; ok || levels["transaction.version"] != 2 || e <= epoch {
		t.Fatalf("after group.version 0: finalized %v at epoch %d, want no group.version and an epoch above %d", levels, e, epoch)
	}
	if code := heartbeatCode(t, b.Addr, false); code != kerr.UnsupportedVersion.Code {
		t.Fatalf("ConsumerGroupHeartbeat at group.version 0: %v, want UNSUPPORTED_VERSION", kerr.ErrorForCode(code))
	}
	// share.version 0 (v0's allow-downgrade flag): share groups are off.
	// The v0 success lists the feature with NONE and, as Kafka's
	// QuorumController sets it, Errors.NONE.message(): "NONE".
	resp := updateFeaturesResponse(t, b.Addr, 0, false, featureUpdate{"share.version", 0, 2})
	if resp.ErrorCode != 0 || resp.ErrorMessage != nil || len(resp.Results) != 1 || resp.Results[0].Feature != "share.version" ||
		resp.Results[0].ErrorCode != 0 || resp.Results[0].ErrorMessage == nil || *resp.Results[0].ErrorMessage != "NONE" {
		t.Fatalf("disabling share.version with v0: %+v", resp)
	}
	if code := heartbeatCode(t, b.Addr, true); code != kerr.UnsupportedVersion.Code {
		t.Fatalf("ShareGroupHeartbeat at share.version 0: %v, want UNSUPPORTED_VERSION", kerr.ErrorForCode(code))
	}

	// The levels survive a restart; raising group.version turns the
	// groups back on.
	b.Restart()
	if levels, _ := finalizedFeatures(t, b.Addr); len(levels) != 1 || levels["transaction.version"] != 2 {
		t.Fatalf("after a restart finalized %v, want only transaction.version 2", levels)
	}
	if code, msg, _ := updateFeatures(t, b.Addr, 1, false, featureUpdate{"group.version", 1, 1}); code != 0 {
		t.Fatalf("upgrading group.version: %v %s", kerr.ErrorForCode(code), msg)
	}
	if code := heartbeatCode(t, b.Addr, false); code == kerr.UnsupportedVersion.Code {
		t.Fatal("ConsumerGroupHeartbeat is still UNSUPPORTED_VERSION after group.version went back to 1")
	}
}

// TestKafkaToolsFeatures runs kafka-features.sh describe, downgrade,
// upgrade and disable against a broker of its own.
func TestKafkaToolsFeatures(t *testing.T) {
	k := newKafkaTools(t)
	if !usingGregor() {
		t.Skip("changes the cluster's feature levels; runs on its own broker")
	}
	b := brokertest.Start(t, brokertest.Options{})
	k = &kafkaTools{dir: k.dir, addr: b.Addr}
	features := func(args ...string) string {
		return k.run(t, "", "kafka-features.sh", append([]string{"--bootstrap-server", k.addr}, args...)...)
	}
	level := func(out, feature string) string {
		for _, l := range toolLines(out) {
			if strings.HasPrefix(l, "Feature: "+feature+"\t") {
				for _, f := range strings.Split(l, "\t") {
					if v, ok := strings.CutPrefix(f, "FinalizedVersionLevel: "); ok {
						return v
					}
				}
			}
		}
		return "(missing)"
	}
	if got := level(features("describe"), "transaction.version"); got != "2" {
		t.Fatalf("describe: transaction.version finalized %s, want 2", got)
	}
	if out := features("downgrade", "--feature", "transaction.version=1"); !strings.Contains(out, "transaction.version was downgraded to 1.") {
		t.Fatalf("downgrade printed %q", out)
	}
	if out := features("disable", "--feature", "share.version"); !strings.Contains(out, "share.version was disabled.") {
		t.Fatalf("disable printed %q", out)
	}
	out := features("describe")
	if got := level(out, "transaction.version"); got != "1" {
		t.Fatalf("after the downgrade transaction.version is finalized at %s:\n%s", got, out)
	}
	if got := level(out, "share.version"); got != "0" {
		t.Fatalf("after disable share.version is finalized at %s:\n%s", got, out)
	}
	stdout, stderr, err := k.runBoth("kafka-features.sh", "--bootstrap-server", k.addr, "upgrade", "--feature", "transaction.version=5")
	if err == nil || !strings.Contains(stdout+stderr, "only supports versions 0-2") {
		t.Fatalf("upgrading past the supported range: exit %v, output %s%s", err, stdout, stderr)
	}
	if out := features("upgrade", "--feature", "transaction.version=2"); !strings.Contains(out, "transaction.version was upgraded to 2.") {
		t.Fatalf("upgrade printed %q", out)
	}
}
