package pool

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/llmproxy/caddy-llm-proxy/limits"
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
		recs, err := p.sh.store.Load(keyPrefix)
		if err != nil {
			t.Fatal(err)
		}
		if b, ok := recs[keyPrefix+k.ID]; ok {
			if err := json.Unmarshal(b, &rec); err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("nothing flushed within 5 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if rec.Requests != 1 || rec.Tokens != 2 || rec.State != StateCooling || len(rec.Events) != 1 || rec.Day == "" {
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
	recs, err := s.Load(keyPrefix)
	if err != nil {
		t.Fatal(err)
	}
	var rec record
	if err := json.Unmarshal(recs[keyPrefix+k.ID], &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Requests != 3 || rec.Tokens != 10 {
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
	rec, _ := json.Marshal(record{V: recordVersion, Day: "2026-03-10", DayRequests: 7, Requests: 70, Tokens: 700,
		State: StateDisabled, Reason: "401 from upstream"})
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
	for _, kept := range []string{"key/" + a.ID, "admin/key/test/" + saved[0].ID(), "admin/override/test/" + a.ID,
		"admin/override/test/oai-0badc0de"} {
		if _, ok := all[kept]; !ok {
			t.Errorf("%s is not stored", kept)
		}
	}
}

// A record written by hand is what json.Marshal writes.
func TestRecordJSON(t *testing.T) {
	for _, r := range []record{
		{V: recordVersion},
		{V: recordVersion, Events: [][3]int64{{1, 2, 3}, {4, 5, -6}}, Day: "2026-03-10", DayRequests: 7, DayTokens: 8,
			Requests: 9, Tokens: 10, LastStart: 11, State: StateCooling, Reason: `429 "from" <upstream> ü`, Until: 12, Failures: 3, N429: 2},
	} {
		want, _ := json.Marshal(r)
		if got := r.appendJSON(nil); string(got) != string(want) {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	}
}
