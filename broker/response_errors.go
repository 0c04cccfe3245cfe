package broker

// Error codes in responses of every API but Produce and Fetch (whose
// partitions' codes countTraffic counts on its own), as Kafka's
// RequestMetrics ErrorsPerSec counts each response's errorCounts(): every
// ErrorCode field, top-level, per topic, per partition, per group or per
// resource, that is not NONE.

import (
	"reflect"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// codeWalker calls f with each non-zero ErrorCode field under v.
type codeWalker func(v reflect.Value, f func(int16))

// codeWalkers caches a walker per response type (nil: the type has no
// ErrorCode field).
var codeWalkers sync.Map // reflect.Type -> codeWalker

// eachErrorCode calls f with each non-zero ErrorCode of resp.
func eachErrorCode(resp kmsg.Response, f func(int16)) {
	if resp == nil {
		return
	}
	v := reflect.ValueOf(resp)
	w, ok := codeWalkers.Load(v.Type())
	if !ok {
		w, _ = codeWalkers.LoadOrStore(v.Type(), walkerOf(v.Type()))
	}
	if w := w.(codeWalker); w != nil {
		w(v, f)
	}
}

// walkerOf builds the walker of a type: its ErrorCode fields, and those
// of the structs it holds through pointers and slices. kmsg's messages
// hold no type within itself.
func walkerOf(t reflect.Type) codeWalker {
	switch t.Kind() {
	case reflect.Pointer:
		elem := walkerOf(t.Elem())
		if elem == nil {
			return nil
		}
		return func(v reflect.Value, f func(int16)) {
			if !v.IsNil() {
				elem(v.Elem(), f)
			}
		}
	case reflect.Slice:
		elem := walkerOf(t.Elem())
		if elem == nil {
			return nil
		}
		return func(v reflect.Value, f func(int16)) {
			for i := range v.Len() {
				elem(v.Index(i), f)
			}
		}
	case reflect.Struct:
		var parts []codeWalker
		for i := range t.NumField() {
			sf := t.Field(i)
			switch {
			case !sf.IsExported():
			case sf.Name == "ErrorCode" && sf.Type.Kind() == reflect.Int16:
				parts = append(parts, func(v reflect.Value, f func(int16)) {
					if c := int16(v.Field(i).Int()); c != 0 {
						f(c)
					}
				})
			default:
				if w := walkerOf(sf.Type); w != nil {
					parts = append(parts, func(v reflect.Value, f func(int16)) { w(v.Field(i), f) })
				}
			}
		}
		if len(parts) == 0 {
			return nil
		}
		return func(v reflect.Value, f func(int16)) {
			for _, p := range parts {
				p(v, f)
			}
		}
	}
	return nil
}
