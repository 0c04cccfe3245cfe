package protocol

// ApiVersions (key 18), versions 0-4, as Kafka 4.x serves it: v5
// (KIP-1242's cluster and node ids, to detect a misrouted connection) is
// unstable in Kafka and not advertised by a released broker, and Gregor
// does not check those ids, so a v5 request gets the v0 fallback below
// and the client retries at v4.
//
// The advertised ranges come from the registry. Three things are special:
// the response header is always v0 (see appendResponseFrame); a request
// at a version we do not know (newer, or below 0) is answered with a v0
// body carrying UNSUPPORTED_VERSION and ApiVersions' own range, so the
// client retries with a version we speak (KIP-511); and v3+ client software names and versions must match Kafka's
// pattern or get INVALID_REQUEST. v3+ also advertise the feature flags
// registered with the APIs they stand for (Registry.RegisterFeature).

import (
	"context"
	"regexp"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ApiVersionsMax is the newest ApiVersions version served.
const ApiVersionsMax = 4

var softwarePattern = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?$`)

func (r *Registry) handleApiVersions(_ context.Context, req *Request) (kmsg.Response, error) {
	body := req.Body.(*kmsg.ApiVersionsRequest)
	resp := req.Response().(*kmsg.ApiVersionsResponse)
	if req.Version >= 3 && (!softwarePattern.MatchString(body.ClientSoftwareName) || !softwarePattern.MatchString(body.ClientSoftwareVersion)) {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	}
	resp.ApiKeys = r.Versions()
	if req.Version >= 3 {
		r.addFeatures(resp, req.Version)
	}
	return resp, nil
}

// addFeatures fills in the supported and finalized features (v3+). As in
// Kafka (KAFKA-17011), v3 cannot carry a supported feature whose minimum
// is 0, so such features are left out of v3's supported list; the
// finalized list has every feature finalized above level 0, its level as
// both bounds.
func (r *Registry) addFeatures(resp *kmsg.ApiVersionsResponse, version int16) {
	fs := r.Features()
	if len(fs) == 0 {
		return
	}
	levels, epoch := r.FinalizedFeatures()
	resp.FinalizedFeaturesEpoch = epoch
	for _, f := range fs {
		if f.Min > 0 || version >= 4 {
			sf := kmsg.NewApiVersionsResponseSupportedFeature()
			sf.Name, sf.MinVersion, sf.MaxVersion = f.Name, f.Min, f.Max
			resp.SupportedFeatures = append(resp.SupportedFeatures, sf)
		}
		if level := levels[f.Name]; level > 0 {
			ff := kmsg.NewApiVersionsResponseFinalizedFeature()
			ff.Name, ff.MinVersionLevel, ff.MaxVersionLevel = f.Name, level, level
			resp.FinalizedFeatures = append(resp.FinalizedFeatures, ff)
		}
	}
}

// unsupportedApiVersions answers an ApiVersions request at a version we
// do not know. As Kafka's ApiVersionsRequest.getErrorResponse, the keys
// list ApiVersions' own range only: all the client needs to retry.
func (r *Registry) unsupportedApiVersions() kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	for _, k := range r.Versions() {
		if k.ApiKey == 18 {
			resp.ApiKeys = append(resp.ApiKeys, k)
		}
	}
	return resp
}
