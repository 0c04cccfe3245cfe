package protocol

import (
	"reflect"
	"strings"
	"sync"
	"unicode/utf8"
)

// MaxStringLen is the longest string Kafka's protocol carries: 0x7fff bytes.
// A non-flexible version's int16 length cannot say more; a flexible
// version's compact string could, but Kafka's generated readers refuse
// one ("string field X had invalid length"), so the request never parses
// and the connection is closed, and its writers refuse to encode one.
// Gregor does the same: a longer string would otherwise reach records of
// the internal topics, whose keys and values give strings int16 lengths,
// and be read back wrapped, as another group's key or not at all.
const MaxStringLen = 0x7fff

// stringPlan lists where a struct type holds strings, so that a check of
// a request or response visits only those fields: a fetch's partitions,
// which hold none, are skipped whole.
type stringPlan struct {
	fields   []stringField
	building bool // while its fields are being listed
}

type stringField struct {
	index   int
	name    string
	kind    stringKind
	message bool        // a message field: shortened, not refused
	sub     *stringPlan // the element or pointee struct's plan
}

// stringKind is how a field holds strings: kmsg's generated types have
// no maps, interfaces or slices of pointers.
type stringKind uint8

const (
	kindString stringKind = iota
	kindStringPtr
	kindStrings   // []string
	kindStruct    // an embedded struct value
	kindStructPtr // *struct
	kindStructs   // []struct
)

var (
	plansMu sync.Mutex
	plans   sync.Map // reflect.Type -> *stringPlan (nil: no strings)
)

// planFor returns t's plan, nil if no string is reachable from t.
func planFor(t reflect.Type) *stringPlan {
	if p, ok := plans.Load(t); ok {
		return p.(*stringPlan)
	}
	plansMu.Lock()
	defer plansMu.Unlock()
	building := map[reflect.Type]*stringPlan{}
	p := buildPlan(t, building)
	for typ, bp := range building {
		if len(bp.fields) == 0 {
			bp = nil
		}
		plans.LoadOrStore(typ, bp)
	}
	if p != nil && len(p.fields) == 0 {
		return nil
	}
	return p
}

func buildPlan(t reflect.Type, building map[reflect.Type]*stringPlan) *stringPlan {
	if p, ok := plans.Load(t); ok {
		return p.(*stringPlan)
	}
	if p, ok := building[t]; ok {
		return p // a recursive type: filled in by the outer call
	}
	p := &stringPlan{building: true}
	building[t] = p
	defer func() { p.building = false }()
	sub := func(et reflect.Type) *stringPlan {
		sp := buildPlan(et, building)
		if sp == nil || len(sp.fields) == 0 && !sp.building {
			return nil // no strings in et (a recursive et may gain some)
		}
		return sp
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		// Messages: ErrorMessage, ShareFetch's AcknowledgeErrorMessage,
		// the streams heartbeat's StatusDetail.
		message := strings.HasSuffix(f.Name, "ErrorMessage") || f.Name == "StatusDetail"
		sf := stringField{index: i, name: f.Name, message: message}
		ft := f.Type
		switch {
		case ft.Kind() == reflect.String:
			sf.kind = kindString
		case ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.String:
			sf.kind = kindStringPtr
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.String:
			sf.kind = kindStrings
		case ft.Kind() == reflect.Struct:
			sf.kind, sf.sub = kindStruct, sub(ft)
		case ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct:
			sf.kind, sf.sub = kindStructPtr, sub(ft.Elem())
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			sf.kind, sf.sub = kindStructs, sub(ft.Elem())
		default:
			continue
		}
		if sf.kind >= kindStruct && sf.sub == nil {
			continue
		}
		p.fields = append(p.fields, sf)
	}
	return p
}

// LongString reports the first string field of the struct v points to
// (a kmsg request, response or record) that is longer than MaxStringLen,
// by its field name; "" if there is none.
func LongString(v any) string {
	field, _ := walkStrings(v, false)
	return field
}

// fitStrings shortens every message field longer than MaxStringLen in
// the response v points to (a message quoting a name of 32,767 bytes is
// longer than the name; cut says some were) and reports the first other
// string field that is too long, which no client could read.
func fitStrings(v any) (field string, cut bool) {
	return walkStrings(v, true)
}

func walkStrings(v any, fit bool) (field string, cut bool) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return "", false
	}
	p := planFor(rv.Elem().Type())
	if p == nil {
		return "", false
	}
	w := walker{fit: fit}
	return p.walk(rv.Elem(), &w), w.cut
}

// walker is one walk's state: whether it cuts messages, and whether it
// cut any.
type walker struct {
	fit, cut bool
}

func (p *stringPlan) walk(v reflect.Value, w *walker) string {
	for i := range p.fields {
		f := &p.fields[i]
		fv := v.Field(f.index)
		switch f.kind {
		case kindString:
			if fv.Len() > MaxStringLen {
				if w.fit && f.message && fv.CanSet() {
					fv.SetString(shorten(fv.String()))
					w.cut = true
					continue
				}
				return f.name
			}
		case kindStringPtr:
			if !fv.IsNil() && fv.Elem().Len() > MaxStringLen {
				if w.fit && f.message {
					s := shorten(fv.Elem().String())
					fv.Set(reflect.ValueOf(&s))
					w.cut = true
					continue
				}
				return f.name
			}
		case kindStrings:
			for j := 0; j < fv.Len(); j++ {
				if fv.Index(j).Len() > MaxStringLen {
					return f.name
				}
			}
		case kindStruct:
			if name := f.sub.walk(fv, w); name != "" {
				return f.name + "." + name
			}
		case kindStructPtr:
			if !fv.IsNil() {
				if name := f.sub.walk(fv.Elem(), w); name != "" {
					return f.name + "." + name
				}
			}
		case kindStructs:
			for j := 0; j < fv.Len(); j++ {
				if name := f.sub.walk(fv.Index(j), w); name != "" {
					return f.name + "." + name
				}
			}
		}
	}
	return ""
}

// shorten cuts s to MaxStringLen bytes, ending in an ellipsis.
func shorten(s string) string {
	const ellipsis = "..."
	return CutString(s, MaxStringLen-len(ellipsis)) + ellipsis
}

// CutString returns s cut to at most n bytes at a character boundary.
func CutString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
