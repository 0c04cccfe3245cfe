package config

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Type is a key's type as Kafka's ConfigDef declares it; the values are
// the ids DescribeConfigs reports (KIP-569).
type Type int8

// Kafka's config types.
const (
	Boolean  Type = 1
	String   Type = 2
	Int      Type = 3
	Short    Type = 4
	Long     Type = 5
	Double   Type = 6
	List     Type = 7
	Class    Type = 8
	Password Type = 9
)

func (t Type) String() string {
	return [...]string{"UNKNOWN", "BOOLEAN", "STRING", "INT", "SHORT", "LONG", "DOUBLE", "LIST", "CLASS", "PASSWORD"}[t]
}

func (t Type) integer() bool { return t == Int || t == Short || t == Long }

// Unit makes an INT or LONG key a duration or a byte size, held as
// time.Duration or ByteSize in the resolved configuration.
type Unit int8

// Units.
const (
	NoUnit Unit = iota
	Millis
	Seconds
	Minutes
	Hours
	Bytes
)

var unitDurations = [...]time.Duration{Millis: time.Millisecond, Seconds: time.Second, Minutes: time.Minute, Hours: time.Hour}

func (u Unit) time() bool { return u >= Millis && u <= Hours }

// Scope says whether and where AlterConfigs may change a broker key at run
// time, as Kafka's DynamicBrokerConfig allows.
type Scope int8

// Scopes.
const (
	// ReadOnly keys are set in server.properties (or --set) only.
	ReadOnly Scope = iota
	// PerBroker keys may be altered for one broker, not as the cluster-wide
	// default.
	PerBroker
	// ClusterWide keys may be altered for one broker or as the
	// cluster-wide default.
	ClusterWide
)

// ByteSize is a size in bytes (a key whose unit is Bytes).
type ByteSize int64

// Secret is a PASSWORD value: it never prints itself.
type Secret string

func (Secret) String() string { return "[hidden]" }

// Forever is how a duration too long for time.Duration is held (more than
// about 292 years, Long.MAX_VALUE milliseconds included); it is reported as
// Long.MAX_VALUE.
const Forever = time.Duration(math.MaxInt64)

// Key is one row of the schema: a broker key, a topic key, or a broker key
// that is also the default of a topic key.
type Key struct {
	// Name is the broker key in server.properties; empty for a topic key
	// without a broker default (remote.storage.enable, ...).
	Name string
	Type Type
	Unit Unit
	// Default is the value when no layer sets the key (or any of its
	// synonyms), unless NoDefault: then the key has none (Kafka's null).
	Default   string
	NoDefault bool
	// Synonyms are the broker keys that set the same value with lower
	// precedence, in Kafka's order (log.retention.ms has
	// log.retention.minutes then log.retention.hours). They have rows of
	// their own without a Field.
	Synonyms []string
	Scope    Scope
	// Topic is the topic key whose default this key is (retention.ms for
	// log.retention.ms).
	Topic string
	Doc   string
	// Valid checks a parsed value (bool, int64, float64, string or
	// []string), beyond its type.
	Valid Validator
	// Field points at where the resolved value is held; nil for a key
	// Gregor accepts without using it, or a synonym folded into another.
	Field func(*Config) any
	// NoEffect, when set, says why Gregor accepts, stores and describes
	// the key (as Kafka does) without acting on it; the broker logs it
	// whenever the key is set (NoEffectKeys).
	NoEffect string
	// StartupOnly keys act from server.properties and --set only: Kafka
	// lets AlterConfigs change them, and so does Gregor, but the value
	// altered at run time is stored and described, not applied.
	StartupOnly bool
	// Internal keys (Kafka's defineInternal) are described only where
	// they are set.
	Internal bool
	// Stored, when set, replaces Valid for a topic's stored overrides: a
	// value written before Kafka tightened Valid stays in force.
	Stored Validator
	// BrokerValid, when set, replaces Valid for the broker key of a row
	// that also holds a topic key, where Kafka validates the two apart
	// (anyValue: none).
	BrokerValid Validator

	def any // Default, parsed
}

// Sensitive keys (passwords) are described without their value.
func (k *Key) Sensitive() bool { return k.Type == Password }

// schema is the table with its lookups.
type schema struct {
	keys     []*Key
	broker   map[string]*Key     // by broker name, synonyms included
	topic    map[string]*Key     // by topic name
	group    map[string][]string // broker name -> its synonyms, most precedent first
	defaults map[string]string   // broker name -> default, for keys that have one
	brokers  []*Key              // broker keys by name
	topics   []*Key              // topic keys by topic name
}

// newSchema indexes a table and checks it; a bad table panics, so any
// test that loads a configuration catches it.
func newSchema(table []Key) *schema {
	s := &schema{broker: map[string]*Key{}, topic: map[string]*Key{}, group: map[string][]string{}, defaults: map[string]string{}}
	for i := range table {
		k := &table[i]
		s.keys = append(s.keys, k)
		if k.Name != "" {
			must(s.broker[k.Name] == nil, "duplicate key %s", k.Name)
			s.broker[k.Name] = k
			s.brokers = append(s.brokers, k)
			if !k.NoDefault {
				s.defaults[k.Name] = k.Default
			}
		}
		if k.Topic != "" {
			must(s.topic[k.Topic] == nil, "duplicate topic key %s", k.Topic)
			must(k.Field != nil, "topic key %s has no field", k.Topic)
			s.topic[k.Topic] = k
			s.topics = append(s.topics, k)
		}
		must(k.Name != "" || k.Topic != "", "row %d has no name", i)
		must(k.Unit == NoUnit || k.Type.integer(), "%s: a unit needs an integer type", k.Name)
		if !k.NoDefault {
			var err error
			k.def, err = k.parse(k.Default)
			must(err == nil, "%s: default %q: %v", k.Name, k.Default, err)
		}
		if k.Field != nil {
			must(fits(k.Field(&Config{}), k), "%s: field does not hold a %v in %v", k.Name, k.Type, k.Unit)
		}
	}
	for _, k := range s.keys {
		if len(k.Synonyms) == 0 {
			continue
		}
		g := append([]string{k.Name}, k.Synonyms...)
		for _, n := range g {
			syn := s.broker[n]
			must(syn != nil && (n == k.Name || syn.Field == nil && syn.Unit.time() == k.Unit.time()), "%s: bad synonym %s", k.Name, n)
			s.group[n] = g
		}
	}
	byName := func(a, b *Key) int { return strings.Compare(a.Name, b.Name) }
	slices.SortFunc(s.brokers, byName)
	slices.SortFunc(s.topics, func(a, b *Key) int { return strings.Compare(a.Topic, b.Topic) })
	return s
}

func must(ok bool, format string, args ...any) {
	if !ok {
		panic("config schema: " + fmt.Sprintf(format, args...))
	}
}

// synonyms returns a broker key's synonyms, itself first.
func (s *schema) synonyms(name string) []string {
	if g, ok := s.group[name]; ok {
		return g
	}
	return []string{name}
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	byteSizeType = reflect.TypeFor[ByteSize]()
	secretType   = reflect.TypeFor[Secret]()
)

// fits reports whether a field can hold a key's values: a bool, an
// integer (a time.Duration for a time unit, a ByteSize for bytes), a
// float64, a string (a Secret for a password; a list comma-joined), or a
// slice of strings or listeners.
func fits(field any, k *Key) bool {
	switch field.(type) {
	case *[]Listener:
		return k.Type == String
	case *[]string:
		return k.Type == List || k.Type == String
	}
	t := reflect.TypeOf(field).Elem()
	switch t.Kind() {
	case reflect.Bool:
		return k.Type == Boolean
	case reflect.Int, reflect.Int16, reflect.Int32, reflect.Int64:
		return k.Type.integer() && (t == durationType) == k.Unit.time() && (t == byteSizeType) == (k.Unit == Bytes)
	case reflect.Float64:
		return k.Type == Double
	case reflect.String:
		if t == secretType {
			return k.Type == Password
		}
		return k.Type == String || k.Type == Class || k.Type == List
	}
	return false
}

// parse turns a string into the key's type (bool, int64, float64, string
// or []string) and validates it. Values are trimmed, as Kafka does.
func (k *Key) parse(raw string) (any, error) {
	s := strings.TrimSpace(raw)
	var v any
	switch k.Type {
	case Boolean:
		switch strings.ToLower(s) {
		case "true":
			v = true
		case "false":
			v = false
		default:
			return nil, errors.New("Expected value to be either true or false")
		}
	case Int, Short, Long:
		bits := map[Type]int{Short: 16, Int: 32, Long: 64}[k.Type]
		n, err := strconv.ParseInt(s, 10, bits)
		if err != nil {
			return nil, fmt.Errorf("Not a number of type %v", k.Type)
		}
		v = n
	case Double:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("Not a number of type %v", k.Type)
		}
		v = f
	case List:
		v = splitList(s)
	default:
		v = s
	}
	if k.Valid != nil {
		if err := k.Valid(v); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// parseStored parses a stored value with the Stored validator in place of
// Valid.
// parseBroker parses a value of the row's broker key.
func (k *Key) parseBroker(raw string) (any, error) {
	if k.BrokerValid == nil {
		return k.parse(raw)
	}
	loose := *k
	loose.Valid = k.BrokerValid
	return loose.parse(raw)
}

// anyValue is a validator that takes every value of the type.
func anyValue(any) error { return nil }

func (k *Key) parseStored(raw string) (any, error) {
	loose := *k
	loose.Valid = k.Stored
	return loose.parse(raw)
}

// invalid is Kafka's ConfigException message for a bad value of key k
// under name; a password's value is not repeated.
func invalid(k *Key, name, raw string, err error) error {
	if k.Sensitive() {
		raw = Secret(raw).String()
	}
	return fmt.Errorf("Invalid value %s for configuration %s: %w", raw, name, err)
}

// set stores a parsed value of key k in a field.
func set(field any, v any, k *Key) error {
	switch p := field.(type) {
	case *[]Listener:
		ls, err := parseListeners(v.(string))
		*p = ls
		return err
	case *[]string:
		if s, ok := v.(string); ok {
			v = splitList(s)
		}
		*p = slices.Clone(v.([]string))
		return nil
	}
	f := reflect.ValueOf(field).Elem()
	switch x := v.(type) {
	case bool:
		f.SetBool(x)
	case float64:
		f.SetFloat(x)
	case string:
		f.SetString(x)
	case []string:
		f.SetString(strings.Join(x, ","))
	case int64:
		if f.Type() == durationType {
			x = int64(toDuration(x, k.Unit))
		}
		if f.OverflowInt(x) {
			return fmt.Errorf("Value must be a %d-bit integer", f.Type().Bits())
		}
		f.SetInt(x)
	}
	return nil
}

// toDuration converts n of a unit, saturating at Forever. A negative
// value in minutes or hours means "no limit" and is held as -1 ms, as
// Kafka's log.retention.hours does.
func toDuration(n int64, u Unit) time.Duration {
	d := unitDurations[u]
	switch {
	case n < 0 && u != Millis:
		return -time.Millisecond
	case n > int64(Forever/d):
		return Forever
	case n < -int64(Forever/d):
		return -Forever
	}
	return time.Duration(n) * d
}

// format renders a topic field's value as the key reports it (Kafka's
// ConfigDef.convertToString): a duration in the key's unit.
func format(field any, k *Key) string {
	f := reflect.ValueOf(field).Elem()
	switch f.Kind() {
	case reflect.Bool:
		return strconv.FormatBool(f.Bool())
	case reflect.Float64:
		s := strconv.FormatFloat(f.Float(), 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0" // as Java's Double.toString
		}
		return s
	case reflect.String:
		return f.String()
	}
	n := f.Int()
	if f.Type() == durationType && n != int64(Forever) {
		n /= int64(unitDurations[k.Unit])
	}
	return strconv.FormatInt(n, 10)
}

// Validator checks a parsed value.
type Validator func(v any) error

// atLeast is Kafka's Range.atLeast.
func atLeast(lo float64) Validator { return between(lo, math.Inf(1)) }

// between is Kafka's Range.between.
func between(lo, hi float64) Validator {
	return func(v any) error {
		var x float64
		switch n := v.(type) {
		case int64:
			x = float64(n)
		case float64:
			x = n
		}
		num := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
		if x < lo {
			return fmt.Errorf("Value must be at least %s", num(lo))
		}
		if x > hi {
			return fmt.Errorf("Value must be no more than %s", num(hi))
		}
		return nil
	}
}

// oneOf is Kafka's ValidString.in, or ValidList.in for a list: every item
// must be one of opts.
func oneOf(opts ...string) Validator {
	return func(v any) error {
		items, ok := v.([]string)
		if !ok {
			items = []string{v.(string)}
		}
		for _, it := range items {
			if !slices.Contains(opts, it) {
				return fmt.Errorf("String must be one of: %s", strings.Join(opts, ", "))
			}
		}
		return nil
	}
}

func splitList(v string) []string {
	out := []string{}
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
