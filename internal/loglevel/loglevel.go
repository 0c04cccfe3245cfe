// Package loglevel holds the levels of the broker's named loggers, which an
// operator reads and changes at run time through Kafka's BROKER_LOGGER
// config resource (kafka-configs.sh --entity-type broker-loggers), as
// Kafka's log4j loggers are.
//
// Each named logger (a component: broker, coordinator, net, ...) follows
// the root logger's level until it is given one of its own, and follows it
// again once that is deleted. Levels live in memory only: a restart starts
// again from gregor.log.level, as Kafka's runtime log levels do.
//
// A logger's level is checked twice: by its sampler, before an event is
// built (so Debug().Enabled() is false and costs an atomic load), and by a
// hook before the event is written, for loggers that a component derived
// with a sampler of its own (zerolog keeps one sampler per logger, but every
// hook).
package loglevel

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/rs/zerolog"
)

// Root is the logger the others follow, named as log4j's root logger.
const Root = "root"

const unset = math.MinInt32

// Levels is the set of named loggers of one broker.
type Levels struct {
	base zerolog.Logger
	root atomic.Int32
	mu   sync.Mutex
	// named holds each logger made so far: its own level, or unset.
	named map[string]*atomic.Int32
}

// New returns the levels of loggers derived from base, the root at root.
func New(base zerolog.Logger, root zerolog.Level) *Levels {
	l := &Levels{base: base.Level(zerolog.TraceLevel), named: map[string]*atomic.Int32{}}
	l.root.Store(int32(root))
	return l
}

// Logger returns the named logger, its lines carrying the name as their
// "component" field (none for Root). The name becomes known to Names,
// Level, Set and Unset.
func (l *Levels) Logger(name string) zerolog.Logger {
	var own *atomic.Int32
	log := l.base
	if name != Root {
		l.mu.Lock()
		own = l.named[name]
		if own == nil {
			own = new(atomic.Int32)
			own.Store(unset)
			l.named[name] = own
		}
		l.mu.Unlock()
		log = log.With().Str("component", name).Logger()
	}
	g := gate{root: &l.root, own: own}
	return log.Sample(g).Hook(g)
}

// Names lists the loggers: Root first, then the others by name.
func (l *Levels) Names() []string {
	l.mu.Lock()
	names := make([]string, 0, len(l.named)+1)
	for n := range l.named {
		names = append(names, n)
	}
	l.mu.Unlock()
	slices.Sort(names)
	return append([]string{Root}, names...)
}

// Level is the level the named logger logs at (its own, else the root's),
// and false when there is no such logger.
func (l *Levels) Level(name string) (zerolog.Level, bool) {
	if name == Root {
		return zerolog.Level(l.root.Load()), true
	}
	own := l.lookup(name)
	if own == nil {
		return 0, false
	}
	return gate{root: &l.root, own: own}.level(), true
}

// Exists tells whether the named logger exists.
func (l *Levels) Exists(name string) bool {
	_, ok := l.Level(name)
	return ok
}

// Set gives the named logger its own level; false when there is no such
// logger.
func (l *Levels) Set(name string, lvl zerolog.Level) bool {
	if name == Root {
		l.root.Store(int32(lvl))
		return true
	}
	own := l.lookup(name)
	if own == nil {
		return false
	}
	own.Store(int32(lvl))
	return true
}

// Unset makes the named logger follow the root again; false when there is
// no such logger or it is Root.
func (l *Levels) Unset(name string) bool {
	if name == Root {
		return false
	}
	own := l.lookup(name)
	if own == nil {
		return false
	}
	own.Store(unset)
	return true
}

// lookup is the named logger's own level, nil when there is no such logger.
func (l *Levels) lookup(name string) *atomic.Int32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.named[name]
}

// gate passes the events at or above a logger's level.
type gate struct {
	root *atomic.Int32
	own  *atomic.Int32 // nil for Root
}

func (g gate) level() zerolog.Level {
	if g.own != nil {
		if v := g.own.Load(); v != unset {
			return zerolog.Level(v)
		}
	}
	return zerolog.Level(g.root.Load())
}

// Sample is zerolog.Sampler's: called before an event is built.
func (g gate) Sample(lvl zerolog.Level) bool { return lvl >= g.level() }

// Run is zerolog.Hook's: called before an event is written, also for a
// logger whose sampler a component replaced.
func (g gate) Run(e *zerolog.Event, lvl zerolog.Level, _ string) {
	if lvl < g.level() {
		e.Discard()
	}
}

// kafkaNames are Kafka's LogLevelConfig.VALID_LOG_LEVELS, which a
// BROKER_LOGGER value must be exactly (upper case).
var kafkaNames = map[string]zerolog.Level{
	"FATAL": zerolog.FatalLevel,
	"ERROR": zerolog.ErrorLevel,
	"WARN":  zerolog.WarnLevel,
	"INFO":  zerolog.InfoLevel,
	"DEBUG": zerolog.DebugLevel,
	"TRACE": zerolog.TraceLevel,
}

// ValidKafkaNames is the list Kafka's refusal of a level gives: the valid
// names, sorted.
const ValidKafkaNames = "DEBUG, ERROR, FATAL, INFO, TRACE, WARN"

// ParseKafka reads a level as Kafka names it.
func ParseKafka(s string) (zerolog.Level, bool) {
	lvl, ok := kafkaNames[s]
	return lvl, ok
}

// KafkaName is the level as Kafka names it.
func KafkaName(lvl zerolog.Level) string {
	for n, v := range kafkaNames {
		if v == lvl {
			return n
		}
	}
	if lvl > zerolog.FatalLevel {
		return "OFF"
	}
	return "TRACE"
}
