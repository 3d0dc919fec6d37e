package pool

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/llmproxy/caddy-llm-proxy/limits"
	"github.com/llmproxy/caddy-llm-proxy/stats"
	"github.com/llmproxy/caddy-llm-proxy/store"
)

func newBadgerPool(t *testing.T, dir string, clk *fakeClock, keys ...KeySpec) *Pool {
	t.Helper()
	p, err := New(Options{Instance: "test", Storage: "badger", Dir: dir, Now: clk.Now, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func refs(dir string) int {
	n, _ := sharedStates.References("badger:" + dir)
	return n
}

func TestPersistAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	clk := newFakeClock(t0)
	a, b := key("oai", "a", limits.Set{RPM: 3, RPD: 10}), key("oai", "b", limits.Set{})

	p := newBadgerPool(t, dir, clk, a, b)
	for range 3 {
		mustAcquire(t, p, oai, 0, map[string]bool{b.ID: true}).Done(Outcome{Status: 200, InputTokens: 7, OutputTokens: 3})
	}
	clk.Add(10 * time.Second)
	mustAcquire(t, p, oai, 0, map[string]bool{a.ID: true}).Done(Outcome{Status: 401, Reason: "revoked"})
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if refs(dir) != 0 {
		t.Fatal("store still referenced after the last Close")
	}

	// A new process: same dir, the config changed a's limits.
	clk.Add(20 * time.Second)
	a.Limits.RPD = 4
	p = newBadgerPool(t, dir, clk, a, b)
	defer p.Close()
	sa, sb := status(t, p, a.ID), status(t, p, b.ID)
	if sa.Usage != (Usage{Minute: 3, Day: 3, Total: 3, TokensDay: 30, TokensTotal: 30}) {
		t.Fatalf("a's usage after restart: %+v", sa.Usage)
	}
	if sb.State != StateDisabled || sb.Reason != "revoked" || sb.Usage.Total != 1 {
		t.Fatalf("b after restart: %+v", sb)
	}
	// The rolling minute came back: a is still at its RPM until t0+60s.
	if u := mustUnavailable(t, p, oai, 0, nil); u.RetryAfter != 30*time.Second {
		t.Fatalf("RetryAfter = %v, want 30s", u.RetryAfter)
	}
	clk.Add(30 * time.Second)
	mustAcquire(t, p, oai, 0, nil)
	if u := mustUnavailable(t, p, oai, 0, nil); u.RetryAfter != 12*time.Hour-time.Minute {
		t.Fatalf("RetryAfter = %v, want the new RPD 4 to hold until midnight", u.RetryAfter)
	}
}

// TestPersistFlushes checks the background flusher: state reaches the store
// within about a second, without a Close (what survives a kill -9).
func TestPersistFlushes(t *testing.T) {
	k := key("oai", "a", limits.Set{})
	p := newBadgerPool(t, t.TempDir(), &fakeClock{t: time.Now()}, k)
	defer p.Close()
	mustAcquire(t, p, oai, 5, nil).Done(Outcome{Status: 429, RetryAfter: time.Minute, InputTokens: 2})
	var rec record
	deadline := time.Now().Add(5 * time.Second)
	for {
		recs, _, err := loadRecords(p.sh.store, zap.NewNop())
		if err != nil {
			t.Fatal(err)
		}
		if b, ok := recs[k.ID]; ok {
			if b[0] != recordFormat {
				t.Fatalf("record not in the binary format: %q", b)
			}
			if rec, err = decodeRecord(b); err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("nothing flushed within 5 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if rec.requests != 1 || rec.tokens != 2 || rec.health != StateCooling || len(rec.events) != 1 || rec.day == 0 {
		t.Fatalf("flushed record: %+v", rec)
	}
}

func TestPersistOldEventsDropped(t *testing.T) {
	dir := t.TempDir()
	clk := newFakeClock(t0)
	k := key("oai", "a", limits.Set{RPM: 1})
	p := newBadgerPool(t, dir, clk, k)
	mustAcquire(t, p, oai, 0, nil).Done(Outcome{Status: 200})
	p.Close()
	clk.Add(2 * time.Minute)
	p = newBadgerPool(t, dir, clk, k)
	defer p.Close()
	if len(p.slots[0].ks.ev) != 0 {
		t.Fatalf("events older than a minute were restored: %v", p.slots[0].ks.ev)
	}
	mustAcquire(t, p, oai, 0, nil)
}

// TestReloadSharesState models a Caddy reload: the new config's Pool is
// built while the old one still serves, on the same directory.
func TestReloadSharesState(t *testing.T) {
	dir := t.TempDir()
	clk := newFakeClock(t0)
	k := key("oai", "a", limits.Set{RPM: 3, Concurrency: 10})

	old := newBadgerPool(t, dir, clk, k)
	inflight := mustAcquire(t, old, oai, 50, nil)
	mustAcquire(t, old, oai, 0, nil).Done(Outcome{Status: 200})

	k.Limits.Concurrency = 1 // the new config tightens a limit
	cur := newBadgerPool(t, dir, clk, k)
	if refs(dir) != 2 {
		t.Fatalf("refs = %d, want 2", refs(dir))
	}
	// The new Pool sees the old one's counters and in-flight request, and
	// applies its own limits to them.
	if st := status(t, cur, k.ID); st.Usage.Minute != 2 || st.Usage.InFlight != 1 {
		t.Fatalf("usage seen by the new pool: %+v", st.Usage)
	}
	if u := mustUnavailable(t, cur, oai, 0, nil); u.RetryAfter != time.Second {
		t.Fatalf("new concurrency limit not applied: %+v", u)
	}

	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	if refs(dir) != 1 {
		t.Fatalf("refs = %d after closing the old pool, want 1", refs(dir))
	}
	// A lease of the old Pool finishing after its Close still counts.
	inflight.Done(Outcome{Status: 200, InputTokens: 10})
	l := mustAcquire(t, cur, oai, 0, nil)
	l.Done(Outcome{Status: 200})
	mustUnavailable(t, cur, oai, 0, nil) // RPM 3 across both pools
	if st := status(t, cur, k.ID); st.Usage.Total != 3 || st.Usage.TokensTotal != 10 || st.Usage.InFlight != 0 {
		t.Fatalf("usage: %+v", st.Usage)
	}

	// While the shared store is open, the directory is locked; the error
	// explains why.
	if s, err := store.OpenBadger(dir, nil); err == nil {
		s.Close()
		t.Fatal("a second open of a locked directory succeeded")
	} else if !strings.Contains(err.Error(), "another running Caddy") {
		t.Fatalf("lock error without a hint: %v", err)
	}

	if err := cur.Close(); err != nil {
		t.Fatal(err)
	}
	if refs(dir) != 0 {
		t.Fatal("store still referenced")
	}
	// The last Close closed the database: the directory is free again, and
	// holds the final state.
	s, err := store.OpenBadger(dir, nil)
	if err != nil {
		t.Fatalf("directory still locked after the last Close: %v", err)
	}
	defer s.Close()
	recs, _, err := loadRecords(s, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	rec, err := decodeRecord(recs[k.ID])
	if err != nil {
		t.Fatal(err)
	}
	if rec.requests != 3 || rec.tokens != 10 {
		t.Fatalf("final record %+v", rec)
	}
}

// TestLockedDirFails checks that a New that cannot open the store takes no
// reference, so nothing is deleted twice later.
func TestLockedDirFails(t *testing.T) {
	dir := t.TempDir()
	s, err := store.OpenBadger(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = New(Options{Storage: "badger", Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "own storage directory") {
		t.Fatalf("New on a locked dir: %v, want an error with a hint", err)
	}
	if _, ok := sharedStates.References("badger:" + dir); ok {
		t.Fatal("failed New left an entry in the usage pool")
	}
}

// State, keys and overrides that versions before stored under 8-hex-digit
// IDs are taken over by the keys whose 16-digit IDs extend them, and saved
// again under those; the old IDs still find the keys.
func TestLegacyIDsMigrate(t *testing.T) {
	dir := t.TempDir()
	clk := newFakeClock(t0)
	a := key("oai", "sk-config", limits.Set{})
	added := SavedKey{Upstream: "oai", Secret: "sk-added", Added: t0}
	oldA, oldAdded := legacyID(a.ID), legacyID(KeyID("oai", "sk-added"))

	// What a version before left behind.
	db, err := store.OpenBadger(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := []byte(`{"v":1,"day":"2026-03-10","day_requests":7,"requests":70,"tokens":700,"state":"disabled","reason":"401 from upstream"}`)
	savedRec, _ := json.Marshal(added) // no id in it
	over, _ := json.Marshal(KeySettings{Limits: partial("rpm", 5)})
	if err := db.Save(map[string][]byte{
		"key/" + oldA:                           rec,
		"admin/key/test/" + oldAdded:            savedRec,
		"admin/override/test/" + oldA:           over,
		"admin/override/test/oai-0badc0de":      over, // no key of this pool has it
		"admin/override/test/" + oldAdded + "x": over, // not an old ID at all
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	p := newBadgerPool(t, dir, clk, a)
	st := status(t, p, a.ID)
	if st.Usage.Day != 7 || st.Usage.Total != 70 || st.State != StateDisabled || st.Reason != "401 from upstream" {
		t.Fatalf("state stored under the old id not taken over: %+v", st)
	}
	saved, err := p.SavedKeys("test")
	if err != nil || len(saved) != 1 || saved[0].ID() != KeyID("oai", "sk-added") || saved[0].KeyID == "" {
		t.Fatalf("saved keys: %+v %v", saved, err)
	}
	if err := p.AddKeys([]KeySpec{{ID: saved[0].ID(), Upstream: "oai", Secret: "sk-added"}}); err != nil {
		t.Fatal(err)
	}
	ovs, err := p.Overrides("test")
	if err != nil || ovs[a.ID].Limits != partial("rpm", 5) || len(ovs) != 3 {
		t.Fatalf("overrides: %+v %v", ovs, err)
	}
	if p.Resolve(oldA) != a.ID || p.Resolve(oldAdded) != saved[0].ID() || p.Resolve("oai-0badc0de") != "oai-0badc0de" {
		t.Fatalf("old ids do not resolve: %s %s", p.Resolve(oldA), p.Resolve(oldAdded))
	}
	p.Close()

	db, err = store.OpenBadger(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	all, _ := db.Load("")
	for _, gone := range []string{"key/" + oldA, "admin/key/test/" + oldAdded, "admin/override/test/" + oldA} {
		if _, ok := all[gone]; ok {
			t.Errorf("%s is still stored", gone)
		}
	}
	for _, kept := range []string{"admin/key/test/" + saved[0].ID(), "admin/override/test/" + a.ID,
		"admin/override/test/oai-0badc0de"} {
		if _, ok := all[kept]; !ok {
			t.Errorf("%s is not stored", kept)
		}
	}
	// The JSON record the state came from was rewritten in binary, in the
	// log, and the records of the version before are gone.
	for k := range all {
		if strings.HasPrefix(k, keyPrefix) {
			t.Errorf("%s is still stored", k)
		}
	}
	recs, _, err := loadRecords(db, zap.NewNop())
	if _, ok := recs[oldA]; err != nil || ok {
		t.Fatalf("records: %v %v", slices.Collect(maps.Keys(recs)), err)
	}
	if b := recs[a.ID]; len(b) == 0 || b[0] != recordFormat {
		t.Errorf("record not rewritten in binary: %q", b)
	} else if r, err := decodeRecord(b); err != nil || r.requests != 70 || r.day != 20260310 || r.health != StateDisabled {
		t.Errorf("rewritten record: %+v %v", r, err)
	}
}

// persisted is what a key's record should hold.
func persisted(ks *keyState) record {
	r := ks.record()
	if ks.inWindow() > 0 {
		r.events = slices.Clone(ks.ev[ks.head:])
	}
	return r
}

// encodeState is the record of ks as the flush writes it.
func encodeState(ks *keyState) []byte {
	r := ks.record()
	r.events = ks.ev[ks.head:]
	return r.appendBinary(nil)
}

// richState is a key with something in every persisted field: a queue
// whose head has moved, events at and just after the cutoff of a restart a
// minute after now, equal starts, a start after the last start (the wall
// clock stepped back), huge and negative numbers, a reason in need of
// escaping in JSON.
func richState(now int64) *keyState {
	ks := newKeyState("oai-rich")
	cut := now - minute
	ks.ev = []event{
		{start: cut - 5*second, n: 9, tokens: 900}, // left the window already
		{start: cut, n: 2, tokens: 30},             // at the cutoff: dropped on load
		{start: cut + 1, n: 1, tokens: -5},
		{start: cut + 1, n: 3, tokens: 0},
		{start: now - 1234567891, n: 1 << 40, tokens: 1 << 50},
		{start: now + 5*second, n: 4, tokens: 1200},
	}
	ks.head = 1
	ks.day = 20261129
	ks.dayRequests, ks.dayTokens = 1234, -56789
	ks.requests, ks.tokens = math.MaxInt64, math.MinInt64
	ks.lastStart = now
	ks.health, ks.reason, ks.until = StateCooling, `503 "from" <upstream> ü`, now+minute
	ks.failures, ks.n429 = 4, 2
	return ks
}

func TestRecordRoundTrip(t *testing.T) {
	now := t0.UnixNano()
	rich := richState(now)
	states := []*keyState{newKeyState("oai-new"), rich}
	for _, h := range []State{StateActive, StateExhausted, StateDisabled} {
		ks := richState(now)
		ks.health = h
		states = append(states, ks)
	}
	clockBack := richState(now)
	clockBack.lastStart = 0 // no last start: the first start is the whole difference
	states = append(states, clockBack)
	for _, ks := range states {
		b := encodeState(ks)
		if b[0] != recordFormat {
			t.Fatalf("first byte %#02x", b[0])
		}
		r, err := decodeRecord(b)
		if err != nil {
			t.Fatal(err)
		}
		if want := persisted(ks); !reflect.DeepEqual(r, want) {
			t.Errorf("decoded %+v\nwant    %+v", r, want)
		}
	}

	// A restart a minute later drops the start at the cutoff, keeps the
	// rest and their sums.
	got, err := decodeKeyState(rich.id, encodeState(rich), now-minute)
	if err != nil {
		t.Fatal(err)
	}
	want := persisted(rich)
	want.events = want.events[1:]
	if r := persisted(got); !reflect.DeepEqual(r, want) {
		t.Errorf("restored %+v\nwant     %+v", r, want)
	}
	if got.minuteRequests != 1+3+1<<40+4 || got.minuteTokens != -5+1<<50+1200 || got.id != rich.id {
		t.Errorf("restored sums %d %d", got.minuteRequests, got.minuteTokens)
	}
	// Much later, nothing of the minute is left.
	got, err = decodeKeyState(rich.id, encodeState(rich), now+time.Hour.Nanoseconds())
	if err != nil || got.ev != nil || got.minuteRequests != 0 || got.minuteTokens != 0 {
		t.Errorf("restored an hour later: %+v %v", got, err)
	}
}

// oldJSON is the record of richState(t) for t = 2026-11-29 23:46:40 UTC as
// the version before wrote it, with its events moved to the past minute.
const oldJSON = `{"v":1,"events":[[1764460000100000000,2,30],[1764460001250000000,1,-5],[1764460030000000000,4,1200]],` +
	`"day":"2026-11-29","day_requests":1234,"day_tokens":56789,"requests":99999,"tokens":1234567,` +
	`"last_start":1764460030000000000,"state":"cooling","reason":"503 \"from\" \u003cupstream\u003e ü",` +
	`"until":1764460090000000000,"failures":4,"n429":2}`

var oldJSONRecord = record{
	day: 20261129, dayRequests: 1234, dayTokens: 56789, requests: 99999, tokens: 1234567,
	lastStart: 1764460030000000000, health: StateCooling, reason: `503 "from" <upstream> ü`,
	until: 1764460090000000000, failures: 4, n429: 2,
	events: []event{{1764460000100000000, 2, 30}, {1764460001250000000, 1, -5}, {1764460030000000000, 4, 1200}},
}

// Records the versions before wrote as JSON still decode, to what the same
// state encodes to now.
func TestRecordOldJSON(t *testing.T) {
	r, err := decodeRecord([]byte(oldJSON))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r, oldJSONRecord) {
		t.Fatalf("decoded %+v\nwant    %+v", r, oldJSONRecord)
	}
	bin, err := decodeRecord(oldJSONRecord.appendBinary(nil))
	if err != nil || !reflect.DeepEqual(bin, r) {
		t.Fatalf("binary %+v %v\njson   %+v", bin, err, r)
	}
	// The old encoder the benchmark compares with writes what the versions
	// before wrote.
	if j := jsonRecordOf(&oldJSONRecord); string(appendJSONRecord(nil, &j)) != oldJSON {
		t.Errorf("old encoder: %s", appendJSONRecord(nil, &j))
	}

	// And a restart drops the starts at or before the cutoff from either.
	cutoff := int64(1764460001250000000)
	fromJSON, err := decodeKeyState("k", []byte(oldJSON), cutoff)
	if err != nil {
		t.Fatal(err)
	}
	fromBinary, err := decodeKeyState("k", oldJSONRecord.appendBinary(nil), cutoff)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := persisted(fromJSON), persisted(fromBinary); !reflect.DeepEqual(a, b) || len(a.events) != 1 ||
		fromJSON.minuteRequests != 4 || fromJSON.minuteTokens != 1200 || fromBinary.minuteTokens != 1200 {
		t.Errorf("from JSON %+v\nbinary    %+v", a, b)
	}

	for _, c := range []struct {
		json string
		want record
	}{
		{`{"v":1}`, record{health: StateActive}},
		{`{"v":1,"state":"active","reason":"x"}`, record{health: StateActive, reason: "x"}},
		{`{"v":1,"state":"unheard of","until":5}`, record{health: StateActive, until: 5}},
		{`{"v":1,"day":"2026-03-10","day_requests":7,"requests":70,"tokens":700,"state":"disabled","reason":"401 from upstream"}`,
			record{day: 20260310, dayRequests: 7, requests: 70, tokens: 700, health: StateDisabled, reason: "401 from upstream"}},
	} {
		r, err := decodeRecord([]byte(c.json))
		if err != nil || !reflect.DeepEqual(r, c.want) {
			t.Errorf("%s: %+v %v", c.json, r, err)
		}
	}
}

// A damaged record is an error, never a panic nor a state.
func TestRecordCorrupt(t *testing.T) {
	valid := encodeState(richState(t0.UnixNano()))
	for i := range len(valid) {
		if _, err := decodeKeyState("k", valid[:i], 0); err == nil {
			t.Errorf("the first %d of %d bytes decoded", i, len(valid))
		}
	}
	for i := range len(oldJSON) {
		if _, err := decodeKeyState("k", []byte(oldJSON[:i]), 0); err == nil {
			t.Errorf("the first %d bytes of the JSON decoded", i)
		}
	}
	// The smallest record: every field zero.
	zero := []byte{recordFormat, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	if r, err := decodeRecord(zero); err != nil || !reflect.DeepEqual(r, record{health: StateActive}) {
		t.Fatalf("zero record: %+v %v", r, err)
	}
	with := func(i int, v ...byte) []byte {
		return slices.Concat(zero[:i], v, zero[i+1:])
	}
	for name, b := range map[string][]byte{
		"byte after the end":  append(slices.Clone(valid), 0),
		"format 0":            slices.Concat([]byte{0}, valid[1:]),
		"format 1":            slices.Concat([]byte{1}, valid[1:]),
		"format 3":            slices.Concat([]byte{3}, valid[1:]),
		"JSON array":          []byte(`[1,2,3]`),
		"JSON version 2":      []byte(`{"v":2}`),
		"JSON bad day":        []byte(`{"v":1,"day":"29.11.2026"}`),
		"health 4":            with(7, 4),
		"month 13":            with(1, binary.AppendUvarint(nil, 20261301)...),
		"day 0":               with(1, binary.AppendUvarint(nil, 20261100)...),
		"day beyond int32":    with(1, binary.AppendUvarint(nil, 1<<40+101)...),
		"varint of 11 bytes":  with(2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
		"reason past the end": with(8, 10),
		"a trillion events":   with(12, binary.AppendUvarint(nil, 1<<40)...),
		"events missing":      with(12, 2, 0, 1, 2),
	} {
		if r, err := decodeRecord(b); err == nil {
			t.Errorf("%s: decoded to %+v", name, r)
		}
	}
}

// FuzzDecodeRecord: whatever the bytes, decoding returns an error or a
// record, and a binary record it accepts encodes to one that decodes the
// same.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeState(richState(t0.UnixNano())))
	f.Add(oldJSONRecord.appendBinary(nil))
	f.Add([]byte(oldJSON))
	f.Add([]byte{recordFormat, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if _, err2 := decodeKeyState("k", b, t0.UnixNano()); (err == nil) != (err2 == nil) {
			t.Fatalf("decodeRecord: %v, decodeKeyState: %v", err, err2)
		}
		if err != nil || b[0] != recordFormat {
			return
		}
		again, err := decodeRecord(r.appendBinary(nil))
		if err != nil || !reflect.DeepEqual(again, r) {
			t.Fatalf("re-encoded %+v %v\nfirst      %+v", again, err, r)
		}
	})
}

// TestFlushRecords runs the flush twice on a memory store, the second time
// with other, larger records: every stored record is the state it was
// written from.
func TestFlushRecords(t *testing.T) {
	st := store.NewMemory()
	s, err := newShared(func() (store.Store, error) { return st, nil }, true, zap.NewNop(), t0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destruct()
	now := t0.UnixNano()
	var states []*keyState
	s.mu.Lock()
	for i := range 40 {
		ks := s.stateOf(fmt.Sprintf("oai-%016x", i))
		for j := range i {
			ks.ev = append(ks.ev, event{start: now - int64(40-j)*second, n: int64(j + 1), tokens: int64(j * 100)})
		}
		ks.lastStart, ks.requests, ks.reason = now, int64(i), fmt.Sprint("reason ", i)
		ks.markDirty()
		states = append(states, ks)
	}
	s.mu.Unlock()
	check := func() {
		t.Helper()
		recs, _, err := loadRecords(st, zap.NewNop())
		if err != nil || len(recs) != len(states) {
			t.Fatalf("%d records, %v", len(recs), err)
		}
		for _, ks := range states {
			r, err := decodeRecord(recs[ks.id])
			if want := persisted(ks); err != nil || !reflect.DeepEqual(r, want) {
				t.Fatalf("%s: stored %+v %v\nwant %+v", ks.id, r, err, want)
			}
		}
	}
	if err := s.flush(); err != nil {
		t.Fatal(err)
	}
	check()
	s.mu.Lock()
	for _, ks := range states[:10] {
		for j := range 50 {
			ks.ev = append(ks.ev, event{start: now + int64(j)*second, n: 1, tokens: 7})
		}
		ks.requests += 50
		ks.health, ks.reason = StateDisabled, "401 from upstream"
		ks.markDirty()
	}
	s.mu.Unlock()
	if err := s.flush(); err != nil {
		t.Fatal(err)
	}
	check()
}

// jsonRecordOf is the record of the versions before, as their flush copied
// it under the lock.
func jsonRecordOf(r *record) jsonRecord {
	j := jsonRecord{V: jsonRecordVersion, DayRequests: r.dayRequests, DayTokens: r.dayTokens, Requests: r.requests,
		Tokens: r.tokens, LastStart: r.lastStart, State: r.health, Reason: r.reason, Until: r.until,
		Failures: r.failures, N429: r.n429}
	if r.day != 0 {
		j.Day = fmt.Sprintf("%04d-%02d-%02d", r.day/10000, r.day/100%100, r.day%100)
	}
	if len(r.events) > 0 {
		j.Events = make([][3]int64, len(r.events))
		for i, e := range r.events {
			j.Events[i] = [3]int64{e.start, e.n, e.tokens}
		}
	}
	return j
}

// appendJSONRecord is the encoder of the versions before (as json.Marshal
// wrote the record, omitting empty fields), kept to compare with.
func appendJSONRecord(b []byte, r *jsonRecord) []byte {
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(r.V), 10)
	if len(r.Events) > 0 {
		b = append(b, `,"events":[`...)
		for i, e := range r.Events {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			b = strconv.AppendInt(b, e[0], 10)
			b = append(b, ',')
			b = strconv.AppendInt(b, e[1], 10)
			b = append(b, ',')
			b = strconv.AppendInt(b, e[2], 10)
			b = append(b, ']')
		}
		b = append(b, ']')
	}
	str := func(name, v string) {
		if v != "" {
			b = append(b, `,"`...)
			b = append(b, name...)
			b = append(b, `":`...)
			b = stats.AppendJSONString(b, v)
		}
	}
	num := func(name string, v int64) {
		if v != 0 {
			b = append(b, `,"`...)
			b = append(b, name...)
			b = append(b, `":`...)
			b = strconv.AppendInt(b, v, 10)
		}
	}
	str("day", r.Day)
	num("day_requests", r.DayRequests)
	num("day_tokens", r.DayTokens)
	num("requests", r.Requests)
	num("tokens", r.Tokens)
	num("last_start", r.LastStart)
	str("state", string(r.State))
	str("reason", r.Reason)
	num("until", r.Until)
	num("failures", int64(r.Failures))
	num("n429", int64(r.N429))
	return append(b, '}')
}

// discardStore counts what it is asked to save.
type discardStore struct{ bytes, records int }

func (d *discardStore) Load(string) (map[string][]byte, error) { return map[string][]byte{}, nil }
func (d *discardStore) Close() error                           { return nil }
func (d *discardStore) Save(batch map[string][]byte) error {
	for _, v := range batch {
		d.bytes += len(v)
		d.records++
	}
	return nil
}

// BenchmarkFlushRecords is a flush of 10,000 busy keys, each with 50 events
// in its minute (a start every 1.2 s or so, of 1–3 requests and some
// hundreds to thousands of tokens): "json" the copy and encoding of the
// versions before, "binary" those of now, "flush" the whole flush of now
// into a store that discards. B/record is the size of a record.
func BenchmarkFlushRecords(b *testing.B) {
	const keys, events = 10000, 50
	now := t0.UnixNano()
	rnd := rand.New(rand.NewPCG(1, 2))
	states := make([]*keyState, keys)
	for i := range states {
		ks := newKeyState(fmt.Sprintf("oai-%016x", i))
		start := now - minute
		for range events {
			start += int64(1100+rnd.IntN(200)) * int64(time.Millisecond)
			ks.ev = append(ks.ev, event{start: start, n: 1 + rnd.Int64N(3), tokens: 200 + rnd.Int64N(3000)})
		}
		ks.day, ks.lastStart = 20261129, start
		ks.dayRequests, ks.dayTokens = 40000+rnd.Int64N(20000), 40_000_000+rnd.Int64N(20_000_000)
		ks.requests, ks.tokens = 1_000_000+rnd.Int64N(1_000_000), 1_000_000_000+rnd.Int64N(1_000_000_000)
		states[i] = ks
	}
	report := func(b *testing.B, bytes int) {
		b.ReportMetric(float64(bytes)/keys, "B/record")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/keys, "ns/record")
	}
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		var bytes int
		for b.Loop() {
			bytes = 0
			for _, ks := range states {
				r := ks.record()
				r.events = ks.ev[ks.head:]
				j := jsonRecordOf(&r)
				bytes += len(appendJSONRecord(make([]byte, 0, 128), &j))
			}
		}
		report(b, bytes)
	})
	b.Run("binary", func(b *testing.B) {
		b.ReportAllocs()
		var evs []event
		var buf []byte
		for b.Loop() {
			evs, buf = evs[:0], buf[:0]
			for _, ks := range states {
				from := len(evs)
				evs = append(evs, ks.ev[ks.head:]...)
				r := ks.record()
				r.events = evs[from:]
				buf = r.appendBinary(buf)
			}
		}
		report(b, len(buf))
	})
	b.Run("flush", func(b *testing.B) {
		b.ReportAllocs()
		d := &discardStore{}
		s, err := newShared(func() (store.Store, error) { return d, nil }, true, zap.NewNop(), t0)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Destruct()
		for _, ks := range states {
			ks.queue = &s.dirty
			s.keys[ks.id] = ks
		}
		for b.Loop() {
			s.mu.Lock()
			for _, ks := range states {
				ks.markDirty()
			}
			s.mu.Unlock()
			if err := s.flush(); err != nil {
				b.Fatal(err)
			}
		}
		report(b, d.bytes/b.N)
	})
}
