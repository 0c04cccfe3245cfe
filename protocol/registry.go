package protocol

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Handler serves one decoded request. It returns the response to send, or
// nil to send nothing (produce with acks=0). A handler that must wait (a
// long-poll fetch, acks=all) calls req.Defer and returns nil: the deferred
// work starts at once (see API.WaitOnly), the connection goes on handling
// later requests, and responses are written in request order.
// A returned error closes the connection; per-partition problems belong in
// the response as Kafka error codes.
type Handler func(ctx context.Context, req *Request) (kmsg.Response, error)

// API is one entry of the registry: the versions we serve for a key.
type API struct {
	Key     int16
	Min     int16
	Max     int16
	Handler Handler
	// MinServed, when above Min, is the lowest version actually served.
	// Versions in [Min, MinServed) are advertised because clients probe
	// for them (see PITFALLS 3) and are answered by closing the connection.
	MinServed int16
	// NoCopy decodes the body without copying strings and byte slices out
	// of the request frame. Only for handlers that keep nothing from the
	// request after they answer (produce, fetch).
	NoCopy bool
	// WaitOnly says the handler's deferred work only waits (a long poll,
	// an acks=all wait): its side effects happened in the handler, so it
	// starts as the request arrives and runs alongside every other
	// request's. Other deferred work runs one request at a time per
	// connection, in request order, from the request's arrival or the
	// previous one's end.
	WaitOnly bool
}

// Registry is the one table of supported APIs. ApiVersions is computed from
// it, so what we advertise cannot drift from what we serve.
type Registry struct {
	mu   sync.RWMutex
	apis map[int16]API
	// fields below are guarded by mu
	cached   []kmsg.ApiVersionsResponseApiKey
	features []Feature
	// finalized are the levels the cluster finalized (UpdateFeatures), or
	// nil while it finalized none: then each feature's Default holds.
	finalized map[string]int16
	epoch     int64
}

// Feature is a feature flag ApiVersions v3+ advertises (KIP-584): the
// versions this broker supports, and the level finalized for the cluster
// until one is set (features.go). Whoever registers the APIs a feature
// level stands for registers it with them (transaction.version 2 with
// EndTxn v5, ...).
type Feature struct {
	Name     string
	Min, Max int16
	Default  int16
}

// RegisterFeature adds or replaces a feature.
func (r *Registry) RegisterFeature(f Feature) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.features {
		if r.features[i].Name == f.Name {
			r.features[i] = f
			return
		}
	}
	r.features = append(r.features, f)
	sort.Slice(r.features, func(i, j int) bool { return r.features[i].Name < r.features[j].Name })
}

// Features returns the registered features.
func (r *Registry) Features() []Feature {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return append([]Feature(nil), r.features...)
}

// NewRegistry returns a registry holding ApiVersions and the SASL keys.
// SASL exchanges are run by the connection layer (auth.go); these
// handlers answer the SASL requests it passes on, as KafkaApis does.
func NewRegistry() *Registry {
	r := &Registry{apis: make(map[int16]API), epoch: 1}
	r.Register(API{Key: 18, Min: 0, Max: ApiVersionsMax, Handler: r.handleApiVersions})
	r.Register(API{Key: 17, Min: 0, Max: (&kmsg.SASLHandshakeRequest{}).MaxVersion(), Handler: HandleSASLHandshakeDisabled})
	r.Register(API{Key: 36, Min: 0, Max: (&kmsg.SASLAuthenticateRequest{}).MaxVersion(), Handler: HandleSASLAuthenticateDisabled})
	return r
}

// Register adds or replaces an API. It panics on a version range kmsg cannot
// encode, which is a programming error.
func (r *Registry) Register(a API) {
	req := kmsg.RequestForKey(a.Key)
	if req == nil || a.Max > req.MaxVersion() || a.Min < 0 || a.Min > a.Max || a.Handler == nil {
		panic(fmt.Sprintf("protocol: bad registration for key %d [%d,%d]", a.Key, a.Min, a.Max))
	}
	if a.MinServed < a.Min {
		a.MinServed = a.Min
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.apis[a.Key] = a
	r.cached = nil
}

// Lookup returns the API for a key.
func (r *Registry) Lookup(key int16) (API, bool) {
	r.mu.RLock()
	a, ok := r.apis[key]
	r.mu.RUnlock()
	return a, ok
}

// Versions returns the advertised version ranges sorted by key.
func (r *Registry) Versions() []kmsg.ApiVersionsResponseApiKey {
	r.mu.RLock()
	if c := r.cached; c != nil {
		r.mu.RUnlock()
		return c
	}
	r.mu.RUnlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]kmsg.ApiVersionsResponseApiKey, 0, len(r.apis))
	for _, a := range r.apis {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = a.Key, a.Min, a.Max
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ApiKey < out[j].ApiKey })
	r.cached = out
	return out
}
