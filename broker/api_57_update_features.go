package broker

// UpdateFeatures (key 57), versions 0-2: finalizes feature levels for the
// cluster (kafka-features.sh upgrade, downgrade, disable), with Kafka 4.0's
// checks and wording (FeatureControlManager): an unknown upgrade type, a
// negative level, a level this broker does not support, a lowering
// without a downgrade type, or a raise with one fails the whole request
// with INVALID_UPDATE_VERSION and changes nothing; as
// QuorumController.updateFeatures, the error is top-level only ("The
// update failed for all features since the following feature had an
// error: ..."), with no per-feature results at any version. It needs ALTER on the
// cluster. The levels are kept in the metadata backend (the local file,
// or /feature in ZooKeeper) and reach every broker's ApiVersions; the
// APIs a feature stands for are answered UNSUPPORTED_VERSION while it is
// at level 0 (protocol.FeatureGate).
//
// Gregor has no metadata.version or kraft.version (it keeps its metadata
// in ZooKeeper, not KRaft), so those, like any feature it does not
// support, cannot be raised above 0.

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/protocol"
)

// Upgrade types (FeatureUpdate.UpgradeType).
const (
	upgradeUpgrade         = 1
	upgradeSafeDowngrade   = 2
	upgradeUnsafeDowngrade = 3
)

// kafkaFeatures are the features Kafka 4.0 knows: setting one Gregor does
// not support to 0 is a no-op, where an unknown name is refused.
var kafkaFeatures = []string{"metadata.version", "kraft.version", "transaction.version", "group.version",
	"share.version", "eligible.leader.replicas.version", "streams.version"}

// featureState is what the backend delivered of the finalized levels,
// passed on to the registry once the broker's APIs are registered.
type featureState struct {
	// ops serialises this broker's updates (each reads the levels, then
	// writes them all), as Kafka's controller does.
	ops sync.Mutex
	mu  sync.Mutex
	// guarded by mu:
	reg    *protocol.Registry
	levels map[string]int16 // nil: none set
	epoch  int64
	deliv  delivered
}

// ApplyFeatures takes the finalized levels (FeatureApplier).
func (a applier) ApplyFeatures(levels map[string]int16, epoch int64) {
	s := &a.b.features
	s.mu.Lock()
	s.levels, s.epoch = maps.Clone(levels), epoch
	if s.reg != nil {
		s.reg.SetFinalized(levels, epoch)
	}
	s.mu.Unlock()
	s.deliv.notify()
}

// registerFeatures hands the registry the levels delivered so far.
func (b *Broker) registerFeatures(r *protocol.Registry) {
	s := &b.features
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reg = r
	if s.levels != nil {
		r.SetFinalized(s.levels, s.epoch)
	}
}

// awaitFeatures waits until this broker has been delivered levels as
// want.
func (b *Broker) awaitFeatures(ctx context.Context, want map[string]int16) bool {
	s := &b.features
	return s.deliv.await(ctx, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.levels != nil && maps.Equal(s.levels, want)
	})
}

func (b *Broker) handleUpdateFeatures(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.UpdateFeaturesRequest)
	resp := req.Response().(*kmsg.UpdateFeaturesResponse)
	// A failure is the top-level error alone, at every version, as
	// UpdateFeaturesResponse.createWithErrors and
	// QuorumController.updateFeatures answer it: no per-feature results.
	fail := func(err error) (kmsg.Response, error) {
		resp.ErrorCode, resp.ErrorMessage = ErrorCode(b.log, err), errMessage(err)
		return resp, nil
	}
	if !b.authorizeCluster(req, acl.Alter) {
		return fail(kerr.ClusterAuthorizationFailed)
	}
	s := &b.features
	s.ops.Lock()
	defer s.ops.Unlock()
	s.mu.Lock()
	reg, stored := s.reg, maps.Clone(s.levels)
	s.mu.Unlock()
	if reg == nil {
		return fail(errorf(kerr.CoordinatorNotAvailable, "feature levels are not loaded yet"))
	}
	supported := map[string]protocol.Feature{}
	for _, f := range reg.Features() {
		supported[f.Name] = f
	}
	current, _ := reg.FinalizedFeatures()
	// The new set is the stored one (levels of features this broker does
	// not serve included) or, while none is stored, the defaults, with
	// the updates applied.
	next := stored
	if next == nil {
		next = maps.Clone(current)
	}
	for _, u := range r.FeatureUpdates {
		typ := u.UpgradeType
		if req.Version == 0 {
			typ = upgradeUpgrade
			if u.AllowDowngrade {
				typ = upgradeSafeDowngrade
			}
		}
		if err := b.checkFeatureUpdate(u.Feature, u.MaxVersionLevel, typ, supported, current); err != nil {
			return fail(errorf(kerr.InvalidUpdateVersion, "The update failed for all features since the following feature had an error: %s", err.Error()))
		}
		if _, ok := supported[u.Feature]; ok {
			next[u.Feature] = u.MaxVersionLevel
		}
	}
	if req.Version < 1 || !r.ValidateOnly {
		if len(r.FeatureUpdates) > 0 {
			if err := b.backend.UpdateFeatures(ctx, next); err != nil {
				return fail(err)
			}
			b.log.Info().Interface("levels", next).Msg("finalized feature levels updated")
			want := map[string]int16{}
			for name, level := range next {
				if level > 0 {
					want[name] = level
				}
			}
			if !b.awaitFeatures(ctx, want) {
				b.log.Warn().Msg("finalized feature levels recorded but not yet applied here")
			}
		}
	}
	// Before v2 a success lists each feature, its message Kafka's
	// Errors.NONE.message(): the constant's name.
	if req.Version < 2 {
		none := "NONE"
		for _, u := range r.FeatureUpdates {
			res := kmsg.NewUpdateFeaturesResponseResult()
			res.Feature, res.ErrorMessage = u.Feature, &none
			resp.Results = append(resp.Results, res)
		}
	}
	return resp, nil
}

// checkFeatureUpdate is FeatureControlManager.updateFeature's checks, in
// its order.
func (b *Broker) checkFeatureUpdate(name string, level int16, typ int8, supported map[string]protocol.Feature, current map[string]int16) error {
	invalid := func(format string, args ...any) error {
		return errorf(kerr.InvalidUpdateVersion, "Invalid update version %d for feature %s. %s", level, name, fmt.Sprintf(format, args...))
	}
	if typ < upgradeUpgrade || typ > upgradeUnsafeDowngrade {
		return invalid("The controller does not support the given upgrade type.")
	}
	if level < 0 {
		return invalid("A feature version cannot be less than 0.")
	}
	f, ok := supported[name]
	if !ok {
		if level > 0 {
			return invalid("Local controller %d does not support this feature.", b.id)
		}
		if !slices.Contains(kafkaFeatures, name) {
			return invalid("Feature %s not found.", name)
		}
		return nil
	}
	if level < f.Min || level > f.Max {
		if f.Max == 0 {
			return invalid("Local controller %d does not support this feature.", b.id)
		}
		return invalid("Local controller %d only supports versions %d-%d", b.id, f.Min, f.Max)
	}
	cur := current[name]
	if level < cur && typ == upgradeUpgrade {
		return invalid("Can't downgrade the version of this feature without setting the upgrade type to either safe or unsafe downgrade.")
	}
	if level > cur && typ != upgradeUpgrade {
		return invalid("Can't downgrade to a newer version.")
	}
	return nil
}
