package limits

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// The JSON forms of limits. The configuration reads a Set through its
// struct tags (a duration there is a string like "2s" or a number of
// nanoseconds, as everywhere in Caddy's JSON). The admin API is stricter
// and friendlier: its answers write durations as strings (Caps), and its
// bodies must send them as strings (ReadJSON), since a bare number would
// silently mean nanoseconds. The stored admin overrides (Partial) keep the
// form they always had: durations as numbers of nanoseconds.

// ReadJSON reads the limit's value from an admin API body: a count is a
// whole number; a duration is a string like "500ms" or "2s". A number for
// a duration is refused, saying that durations are strings. The caller
// checks the range (CheckNew, CheckChange).
func (d *Def) ReadJSON(raw []byte) (int64, error) {
	raw = bytes.TrimSpace(raw)
	if d.Kind == Duration {
		var s string
		if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
			return 0, fmt.Errorf(`durations are strings like "500ms" or "2s", got %s`, clip(raw))
		}
		v, err := caddy.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf(`want a duration like "500ms" or "2s", got %q`, s)
		}
		return int64(v), nil
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, err
	}
	return n, nil
}

// clip shortens a JSON value for an error message.
func clip(raw []byte) string {
	if len(raw) > 40 {
		return string(raw[:40]) + "…"
	}
	return string(raw)
}

// CheckNew checks a limit that a key added through the admin API sets for
// itself: at least 1 (a duration above zero). Left out, it takes the
// upstream's default instead.
func (d *Def) CheckNew(v int64) error {
	if v >= 1 {
		return nil
	}
	if d.Kind == Duration {
		return fmt.Errorf(`%q must be positive (leave it out for the upstream's default), got %s`, d.Name, time.Duration(v))
	}
	return fmt.Errorf(`%q must be at least 1 (leave it out for the upstream's default), got %d`, d.Name, v)
}

// CheckChange checks a limit that an admin PATCH sets: 0 lifts a cap, so
// only a negative value is wrong; weight, a share, stays at least 1.
func (d *Def) CheckChange(v int64) error {
	switch {
	case !d.Cap() && v < 1:
		return fmt.Errorf("must be at least 1, got %d", v)
	case v >= 0:
		return nil
	case d.Kind == Duration:
		return fmt.Errorf("must not be negative (0 lifts the limit), got %s", time.Duration(v))
	}
	return fmt.Errorf("must not be negative (0 lifts the limit), got %d", v)
}

// appendValue writes v as JSON: a count as a number; a duration as a
// string like "1.5s" when asString, else as a number of nanoseconds.
func (d *Def) appendValue(b []byte, v int64, asString bool) []byte {
	b = strconv.AppendQuote(b, d.Name)
	b = append(b, ':')
	if d.Kind == Duration && asString {
		return strconv.AppendQuote(b, time.Duration(v).String())
	}
	return strconv.AppendInt(b, v, 10)
}

// Caps is a Set as the admin API shows it under a key's "limits": the caps
// that are set (weight, a share rather than a cap, is shown apart), counts
// as numbers and durations as strings like "1.5s".
type Caps Set

// Caps returns the caps of s (its weight left out).
func (s Set) Caps() Caps {
	for i := range table {
		if !table[i].Cap() {
			table[i].put(&s, 0)
		}
	}
	return Caps(s)
}

// MarshalJSON writes the set caps in table order.
func (c Caps) MarshalJSON() ([]byte, error) {
	s := Set(c)
	b := []byte{'{'}
	for i := range table {
		d := &table[i]
		if v := d.get(&s); d.Cap() && v != 0 {
			if len(b) > 1 {
				b = append(b, ',')
			}
			b = d.appendValue(b, v, true)
		}
	}
	return append(b, '}'), nil
}

// UnmarshalJSON reads what MarshalJSON writes; unknown names are ignored.
func (c *Caps) UnmarshalJSON(b []byte) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return err
	}
	var s Set
	for name, raw := range fields {
		d := Lookup(name)
		if d == nil || !d.Cap() {
			continue
		}
		v, err := d.ReadJSON(raw)
		if err != nil {
			return fmt.Errorf("%q: %w", name, err)
		}
		d.put(&s, v)
	}
	*c = Caps(s)
	return nil
}

// Partial is a set of limits where each limit is set or not, and a set
// limit may be 0 (for a cap: unlimited). It is what an admin change or a
// key added at runtime says about limits, to be applied over what lies
// underneath (the configuration, the upstream's defaults). The zero value
// sets nothing. Partials compare with ==.
type Partial struct {
	vals Set    // unset limits hold 0
	has  uint32 // bit i: table[i] is set
}

// Get returns the limit's value and whether it is set.
func (p Partial) Get(d *Def) (int64, bool) {
	return d.get(&p.vals), p.has&(1<<d.idx) != 0
}

// Put sets the limit.
func (p *Partial) Put(d *Def, v int64) {
	d.put(&p.vals, v)
	p.has |= 1 << d.idx
}

// Clear unsets the limit.
func (p *Partial) Clear(d *Def) {
	d.put(&p.vals, 0)
	p.has &^= 1 << d.idx
}

// IsZero reports whether no limit is set.
func (p Partial) IsZero() bool { return p.has == 0 }

// Apply returns s with every set limit of p in place of s's.
func (p Partial) Apply(s Set) Set {
	for i := range table {
		if d := &table[i]; p.has&(1<<i) != 0 {
			d.put(&s, d.get(&p.vals))
		}
	}
	return s
}

// Merge returns p with every set limit of o in place of p's.
func (p Partial) Merge(o Partial) Partial {
	for i := range table {
		if d := &table[i]; o.has&(1<<i) != 0 {
			p.Put(d, d.get(&o.vals))
		}
	}
	return p
}

// Names lists the set limits, in table order.
func (p Partial) Names() []string {
	var out []string
	for i := range table {
		if p.has&(1<<i) != 0 {
			out = append(out, table[i].Name)
		}
	}
	return out
}

// CheckNew checks every set limit with Def.CheckNew, in table order.
func (p Partial) CheckNew() error {
	for i := range table {
		if d := &table[i]; p.has&(1<<i) != 0 {
			if err := d.CheckNew(d.get(&p.vals)); err != nil {
				return err
			}
		}
	}
	return nil
}

// MarshalJSON writes the set limits in table order, durations as numbers
// of nanoseconds: the stored form of the admin overrides and of keys added
// at runtime, unchanged since they were first stored.
func (p Partial) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i := range table {
		if d := &table[i]; p.has&(1<<i) != 0 {
			if len(b) > 1 {
				b = append(b, ',')
			}
			b = d.appendValue(b, d.get(&p.vals), false)
		}
	}
	return append(b, '}'), nil
}

// UnmarshalJSON reads the stored form: a limit that is absent or null is
// unset; a duration may also be a string like "2s". Other names are
// ignored, so a Partial can be read from an object that holds more.
func (p *Partial) UnmarshalJSON(b []byte) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return err
	}
	var out Partial
	for i := range table {
		d := &table[i]
		raw, ok := fields[d.Name]
		if !ok || string(bytes.TrimSpace(raw)) == "null" {
			continue
		}
		var v int64
		var err error
		if d.Kind == Duration {
			var dur caddy.Duration
			err = dur.UnmarshalJSON(raw)
			v = int64(dur)
		} else {
			err = json.Unmarshal(raw, &v)
		}
		if err != nil {
			return fmt.Errorf("%q: %w", d.Name, err)
		}
		out.Put(d, v)
	}
	*p = out
	return nil
}
