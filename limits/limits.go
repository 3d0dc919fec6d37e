// Package limits is the one table of the limits a key can have: for each,
// its name (the Caddyfile word and the JSON name), its kind (a count or a
// duration), how it is parsed from a Caddyfile, validated, merged over an
// upstream's defaults, and read and written as JSON in the configuration,
// the admin API's answers and bodies, and the stored admin overrides.
//
// Callers loop over All instead of naming limits, so a new limit is a new
// field of Set and a new row of the table, plus its admission rule in
// package pool; nothing else.
//
// A limit of 0 is unset: for every limit but weight, unlimited; weight (a
// key's share in weighted selection, not a cap) defaults to 1.
package limits

import (
	"fmt"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// Set is one set of limits: a key's own, an upstream's defaults for its
// keys, or a key's effective limits once merged. A zero field is unset.
//
// Its fields and JSON tags are the configuration's: the config's Key
// embeds a Set, so the limits sit flat beside the key's other fields.
type Set struct {
	// Weight is the key's share in weighted selection among the keys that can
	// serve a request. Default: 1.
	Weight int `json:"weight,omitempty"`

	// RPM is the most requests started in any rolling 60 seconds.
	RPM int64 `json:"rpm,omitempty"`

	// RPD is the most requests per calendar day (in the handler's timezone).
	RPD int64 `json:"rpd,omitempty"`

	// TPM is the most tokens (input + output) in any rolling 60 seconds.
	TPM int64 `json:"tpm,omitempty"`

	// TPD is the most tokens (input + output) per calendar day.
	TPD int64 `json:"tpd,omitempty"`

	// Interval is the least time between two request starts on the key.
	Interval caddy.Duration `json:"interval,omitempty"`

	// Concurrency is the most requests in flight on the key at once.
	Concurrency int `json:"concurrency,omitempty"`
}

// Kind is how a limit's value reads.
type Kind uint8

const (
	// Count is a whole number.
	Count Kind = iota + 1
	// Duration is a span of time, held as nanoseconds; written "500ms" or
	// "2s" in a Caddyfile and in the admin API.
	Duration
)

// Def is one row of the table: one limit.
type Def struct {
	// Name is the Caddyfile word and the JSON name.
	Name string
	// Kind says whether the value is a count or a duration.
	Kind Kind
	// Default is the value an unset limit takes once merged (see Merge):
	// 1 for weight, 0 (unlimited) for the caps.
	Default int64
	// Doc says what the limit does, in a line.
	Doc string

	bits int // the size of a Count in a Caddyfile: 32 or 64
	idx  int // position in the table
	get  func(*Set) int64
	put  func(*Set, int64)
}

// table is every limit, in the order they are listed and written.
var table = [...]Def{
	{Name: "weight", Kind: Count, Default: 1, bits: 32,
		Doc: "the key's share in weighted selection",
		get: func(s *Set) int64 { return int64(s.Weight) }, put: func(s *Set, v int64) { s.Weight = int(v) }},
	{Name: "rpm", Kind: Count, bits: 64,
		Doc: "requests in any rolling 60 s",
		get: func(s *Set) int64 { return s.RPM }, put: func(s *Set, v int64) { s.RPM = v }},
	{Name: "rpd", Kind: Count, bits: 64,
		Doc: "requests per calendar day",
		get: func(s *Set) int64 { return s.RPD }, put: func(s *Set, v int64) { s.RPD = v }},
	{Name: "tpm", Kind: Count, bits: 64,
		Doc: "tokens (input+output) in any rolling 60 s",
		get: func(s *Set) int64 { return s.TPM }, put: func(s *Set, v int64) { s.TPM = v }},
	{Name: "tpd", Kind: Count, bits: 64,
		Doc: "tokens per calendar day",
		get: func(s *Set) int64 { return s.TPD }, put: func(s *Set, v int64) { s.TPD = v }},
	{Name: "interval", Kind: Duration,
		Doc: "least time between two request starts",
		get: func(s *Set) int64 { return int64(s.Interval) }, put: func(s *Set, v int64) { s.Interval = caddy.Duration(v) }},
	{Name: "concurrency", Kind: Count, bits: 32,
		Doc: "most requests in flight",
		get: func(s *Set) int64 { return int64(s.Concurrency) }, put: func(s *Set, v int64) { s.Concurrency = int(v) }},
}

func init() {
	if len(table) > 32 {
		panic("limits: a Partial holds at most 32 limits")
	}
	seen := map[string]bool{}
	for i := range table {
		d := &table[i]
		d.idx = i
		if seen[d.Name] || d.get == nil || d.put == nil || (d.Kind == Count) != (d.bits > 0) {
			panic("limits: bad table row " + d.Name)
		}
		seen[d.Name] = true
	}
}

// All returns the table, in order. Callers must not modify it.
func All() []Def { return table[:] }

// Names lists every limit's name, in table order.
func Names() []string {
	out := make([]string, len(table))
	for i := range table {
		out[i] = table[i].Name
	}
	return out
}

// Lookup returns the limit of that name, or nil.
func Lookup(name string) *Def {
	for i := range table {
		if table[i].Name == name {
			return &table[i]
		}
	}
	return nil
}

// Cap reports whether the limit caps use, so that unset means unlimited
// (every limit but weight, which is a share).
func (d *Def) Cap() bool { return d.Default == 0 }

// Get returns the limit's value in s (nanoseconds for a Duration).
func (d *Def) Get(s Set) int64 { return d.get(&s) }

// Put sets the limit's value in s.
func (d *Def) Put(s *Set, v int64) { d.put(s, v) }

// Parse reads the limit's value from a Caddyfile argument; it must be
// above zero (a count within the limit's size, a duration like 500ms).
func (d *Def) Parse(text string) (int64, error) {
	if d.Kind == Duration {
		v, err := caddy.ParseDuration(text)
		if err != nil {
			return 0, fmt.Errorf("%s must be a duration like 30s or 2m, got %q", d.Name, text)
		}
		if v <= 0 {
			return 0, fmt.Errorf("%s must be a positive duration, got %q", d.Name, text)
		}
		return int64(v), nil
	}
	n, err := strconv.ParseInt(text, 10, d.bits)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s must be a positive integer, got %q", d.Name, text)
	}
	return n, nil
}

// Check reports a value below zero, which no configuration may hold (zero
// is unset).
func (d *Def) Check(v int64) error {
	if v >= 0 {
		return nil
	}
	if d.Kind == Duration {
		return fmt.Errorf("%s must be a positive duration, got %s", d.Name, time.Duration(v))
	}
	return fmt.Errorf("%s must be a positive integer, got %d", d.Name, v)
}

// ParseOption parses the Caddyfile argument of the limit called name into
// s. The caller knows name is a limit (Lookup).
func (s *Set) ParseOption(name, text string) error {
	d := Lookup(name)
	if d == nil {
		return fmt.Errorf("unknown limit %q", name)
	}
	v, err := d.Parse(text)
	if err != nil {
		return err
	}
	d.put(s, v)
	return nil
}

// Check reports the first limit below zero, in table order.
func (s Set) Check() error {
	for i := range table {
		if err := table[i].Check(table[i].get(&s)); err != nil {
			return err
		}
	}
	return nil
}

// Merge returns a key's effective limits: its own, each unset one taken
// from its upstream's defaults, and then from the table's Default (so the
// weight is at least 1 unless set below).
func Merge(own, defaults Set) Set {
	out := own
	for i := range table {
		d := &table[i]
		v := d.get(&own)
		if v == 0 {
			v = d.get(&defaults)
		}
		if v == 0 {
			v = d.Default
		}
		d.put(&out, v)
	}
	return out
}
