package protocol

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Serve runs a decoded request through its API's handler and any work the
// handler deferred, in the caller's goroutine, and returns the response:
// what a connection does, for in-process callers such as handler tests.
// The request's version must be one the API serves.
func (r *Registry) Serve(ctx context.Context, req *Request) (kmsg.Response, error) {
	api, ok := r.Lookup(req.Key)
	if !ok || req.Version < api.MinServed || req.Version > api.Max {
		return nil, fmt.Errorf("protocol: %s v%d is not served", kmsg.NameForKey(req.Key), req.Version)
	}
	resp, err := api.Handler(ctx, req)
	if err == nil && req.deferred != nil {
		resp, err = req.deferred(ctx)
	}
	if sp, ok := resp.(*Spliced); ok {
		// In process, the file ranges are read into their fields.
		if err != nil {
			sp.Release()
			return nil, err
		}
		return sp.Materialize()
	}
	return resp, err
}
