package pool

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/llmproxy/caddy-llm-proxy/limits"
	"github.com/llmproxy/caddy-llm-proxy/stats"
)

func TestAddKeysServesAndValidates(t *testing.T) {
	clk := newFakeClock(t0)
	a := key("oai", "sk-config-a", limits.Set{})
	p := newMemPool(t, clk, a)
	a.Disabled = true
	if ok, err := p.UpdateKey(a); !ok || err != nil {
		t.Fatalf("UpdateKey: %v %v", ok, err)
	}
	mustUnavailable(t, p, oai, 1, nil)

	b := KeySpec{Upstream: "oai", Secret: "sk-admin-b", Source: "admin"}
	if err := p.AddKeys([]KeySpec{b}); err != nil {
		t.Fatal(err)
	}
	l := mustAcquire(t, p, oai, 1, nil)
	if l.Key.ID != KeyID("oai", "sk-admin-b") || l.Key.Limits.Weight != 1 || l.Key.Source != "admin" {
		t.Fatalf("leased %+v", l.Key)
	}
	l.Done(Outcome{Status: 200})

	// All or nothing: a duplicate anywhere in the batch adds none.
	c := KeySpec{Upstream: "oai", Secret: "sk-admin-c"}
	err := p.AddKeys([]KeySpec{c, {Upstream: "oai", Secret: "sk-admin-b"}})
	if _, ok := errors.AsType[*DuplicateKeyError](err); !ok {
		t.Fatalf("duplicate: %v", err)
	}
	if err := p.AddKeys([]KeySpec{c, c}); err == nil {
		t.Fatal("a batch repeating a key was accepted")
	}
	if p.Has(KeyID("oai", "sk-admin-c")) {
		t.Fatal("a failed batch added a key")
	}
	if err := p.AddKeys([]KeySpec{{Upstream: "oai", Secret: "x", Limits: limits.Set{RPM: -1}}}); err == nil {
		t.Fatal("negative limit accepted")
	}
	if err := p.AddKeys([]KeySpec{{Secret: "x"}}); err == nil {
		t.Fatal("key without upstream accepted")
	}
	if got := len(p.Keys()); got != 2 {
		t.Fatalf("%d keys, want 2", got)
	}
}

func TestUpdateAndRemoveKey(t *testing.T) {
	clk := newFakeClock(t0)
	a, b, c := key("oai", "a", limits.Set{}), key("oai", "b", limits.Set{}), key("other", "c", limits.Set{})
	p := newMemPool(t, clk, a, b, c)

	// A limit set at runtime holds from the next Acquire.
	a.Limits.RPM = 1
	b.Disabled = true
	for _, s := range []KeySpec{a, b} {
		if ok, err := p.UpdateKey(s); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	mustAcquire(t, p, oai, 1, nil).Done(Outcome{Status: 200})
	mustUnavailable(t, p, oai, 1, nil)

	bad := a
	bad.Upstream = "other"
	if _, err := p.UpdateKey(bad); err == nil {
		t.Fatal("changing a key's upstream was accepted")
	}
	if ok, _ := p.UpdateKey(key("oai", "nope", limits.Set{})); ok {
		t.Fatal("unknown key updated")
	}

	// Removing a key re-indexes the others.
	if !p.RemoveKey(a.ID) || p.RemoveKey(a.ID) {
		t.Fatal("RemoveKey")
	}
	b.Disabled = false
	p.UpdateKey(b)
	l := mustAcquire(t, p, oai, 1, nil)
	if l.Key.ID != b.ID {
		t.Fatalf("leased %s, want %s", l.Key.ID, b.ID)
	}
	l.Done(Outcome{Status: 200})
	if l := mustAcquire(t, p, []Target{{Upstream: "other"}}, 1, nil); l.Key.ID != c.ID {
		t.Fatalf("leased %s, want %s", l.Key.ID, c.ID)
	}
	if _, ok := p.Spec(a.ID); ok {
		t.Fatal("removed key still has a spec")
	}
	// Added again, it keeps its counters.
	if err := p.AddKeys([]KeySpec{a}); err != nil {
		t.Fatal(err)
	}
	if st := status(t, p, a.ID); st.Usage.Total != 1 {
		t.Fatalf("re-added key total %d, want 1", st.Usage.Total)
	}
}

func TestRuntimeChangesUnderLoad(t *testing.T) {
	p := newMemPool(t, nil, key("oai", "base", limits.Set{}))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if l, err := p.Acquire(oai, 1, nil); err == nil {
					l.Done(Outcome{Status: 200})
				}
				p.Keys()
			}
		}()
	}
	for i := range 200 {
		s := KeySpec{Upstream: "oai", Secret: "k" + string(rune('a'+i%26)) + time.Duration(i).String()}
		if err := p.AddKeys([]KeySpec{s}); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			p.RemoveKey(KeyID("oai", s.Secret))
		}
	}
	close(stop)
	wg.Wait()
	if n := len(p.Keys()); n != 101 {
		t.Fatalf("%d keys, want 101", n)
	}
}

func TestReport(t *testing.T) {
	clk := newFakeClock(t0)
	a := key("oai", "a", limits.Set{})
	p := newMemPool(t, clk, a)
	p.Report(a.ID, Outcome{Status: 401, Reason: "401 from upstream: bad key"})
	if st := status(t, p, a.ID); st.State != StateDisabled || st.Reason != "401 from upstream: bad key" {
		t.Fatalf("%s %q", st.State, st.Reason)
	}
	p.Enable(a.ID)
	p.Report(a.ID, Outcome{Status: 429})
	if st := status(t, p, a.ID); st.State != StateCooling || st.Usage.Total != 0 {
		t.Fatalf("%+v", st)
	}
	if p.Report("oai-00000000", Outcome{Status: 401}) {
		t.Fatal("unknown key reported")
	}
}

func TestSavedKeysAndOverridesPersist(t *testing.T) {
	dir := t.TempDir()
	clk := newFakeClock(t0)
	p := newBadgerPool(t, dir, clk, key("oai", "a", limits.Set{}))
	note := "team A"
	sk := SavedKey{Upstream: "oai", Secret: "sk-saved-1", Settings: KeySettings{Limits: partial("weight", 3), Note: &note}, Added: t0}
	sk2 := SavedKey{Upstream: "oai", Secret: "sk-saved-2", Added: t0.Add(time.Second)}
	if err := p.SaveKeys("test", []SavedKey{sk2, sk}); err != nil {
		t.Fatal(err)
	}
	if err := p.SaveOverride("test", KeyID("oai", "a"), KeySettings{Limits: partial("rpm", 0)}); err != nil {
		t.Fatal(err)
	}
	if err := p.SaveKeys("other-instance", []SavedKey{{Upstream: "oai", Secret: "sk-elsewhere"}}); err != nil {
		t.Fatal(err)
	}
	p.Close()

	p = newBadgerPool(t, dir, clk)
	defer p.Close()
	got, err := p.SavedKeys("test")
	if err != nil || len(got) != 2 {
		t.Fatalf("%v %+v", err, got)
	}
	if got[0].ID() != sk.ID() || got[0].Settings.Limits != partial("weight", 3) || *got[0].Settings.Note != "team A" {
		t.Fatalf("first saved key %+v", got[0])
	}
	ovs, err := p.Overrides("test")
	if err != nil || len(ovs) != 1 || ovs[KeyID("oai", "a")].Limits != partial("rpm", 0) {
		t.Fatalf("%v %+v", err, ovs)
	}
	if err := p.DeleteSavedKey("test", sk.ID()); err != nil {
		t.Fatal(err)
	}
	if err := p.SaveOverride("test", KeyID("oai", "a"), KeySettings{}); err != nil {
		t.Fatal(err)
	}
	got, _ = p.SavedKeys("test")
	ovs, _ = p.Overrides("test")
	if len(got) != 1 || got[0].ID() != sk2.ID() || len(ovs) != 0 {
		t.Fatalf("after delete: %+v %+v", got, ovs)
	}
}

func TestKeySettings(t *testing.T) {
	off := true
	base := key("oai", "a", limits.Set{RPM: 10, TPM: 5})
	s := KeySettings{Limits: partial("weight", 2)}.Merge(KeySettings{Limits: partial("rpm", 60, "interval", int64(time.Second)), Disabled: &off})
	got := s.Apply(base)
	if got.Limits.Weight != 2 || got.Limits.RPM != 60 || got.Limits.TPM != 5 || got.Limits.Interval != caddy.Duration(time.Second) || !got.Disabled {
		t.Fatalf("%+v", got)
	}
	s.Clear("rpm", "disabled", "bogus")
	if got := s.Apply(base); got.Limits.RPM != 10 || got.Disabled || got.Limits.Weight != 2 {
		t.Fatalf("after clear: %+v", got)
	}
	if s.IsZero() || !(KeySettings{}).IsZero() {
		t.Fatal("IsZero")
	}
	if got := strings.Join(s.Names(), ","); got != "weight,interval" {
		t.Fatalf("names %q", got)
	}
}

// The stored form of settings is the one written before package limits:
// flat, durations in nanoseconds.
func TestKeySettingsJSON(t *testing.T) {
	note, off := "x", false
	s := KeySettings{Limits: partial("weight", 2, "rpm", 0, "interval", int64(time.Second)), Note: &note, Disabled: &off}
	const want = `{"weight":2,"rpm":0,"interval":1000000000,"note":"x","disabled":false}`
	b, err := json.Marshal(s)
	if err != nil || string(b) != want {
		t.Fatalf("%s %v, want %s", b, err, want)
	}
	var back KeySettings
	if err := json.Unmarshal(b, &back); err != nil || back.Limits != s.Limits || *back.Note != "x" || *back.Disabled {
		t.Fatalf("%+v %v", back, err)
	}
	for v, want := range map[KeySettings]string{{}: `{}`, {Note: &note}: `{"note":"x"}`, {Limits: partial("tpd", 5)}: `{"tpd":5}`} {
		if b, _ := json.Marshal(v); string(b) != want {
			t.Errorf("%s, want %s", b, want)
		}
	}
}

// partial sets limits by name: partial("rpm", 60, "interval", int64(time.Second)).
func partial(kv ...any) limits.Partial {
	var p limits.Partial
	for i := 0; i < len(kv); i += 2 {
		var v int64
		switch n := kv[i+1].(type) {
		case int:
			v = int64(n)
		case int64:
			v = n
		}
		p.Put(limits.Lookup(kv[i].(string)), v)
	}
	return p
}

func TestStatsPersistAndRetention(t *testing.T) {
	dir := t.TempDir()
	clk := newFakeClock(t0)
	p := newBadgerPool(t, dir, clk, key("oai", "a", limits.Set{}))
	st, err := p.Stats("test")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := p.Stats("test"); again != st {
		t.Fatal("Stats is not shared")
	}
	now := time.Now().UTC()
	d := stats.Dims{Model: "gpt-4o", Key: KeyID("oai", "a"), Upstream: "oai"}
	st.Record(now, d, stats.Counts{Requests: 1, Successes: 1, InputTokens: 10, OutputTokens: 3})
	st.Record(now, d, stats.Counts{Requests: 1, Failures: 1})
	st.Record(now.Add(-time.Hour), stats.Dims{Model: "fast"}, stats.Counts{Requests: 1, Failures: 1})
	old := now.Add(-stats.Retention - 2*time.Hour)
	st.Record(old, d, stats.Counts{Requests: 5})
	if rows := st.Rows(); len(rows) != 3 || rows[0].Hour != old.Format(stats.HourLayout) {
		t.Fatalf("rows %+v", rows)
	}
	p.Close() // the last Close flushes (and drops what is past retention)

	p = newBadgerPool(t, dir, clk)
	defer p.Close()
	st, err = p.Stats("test")
	if err != nil {
		t.Fatal(err)
	}
	rows := st.Rows()
	if len(rows) != 2 {
		t.Fatalf("after restart: %+v", rows)
	}
	cur := rows[1]
	if cur.Hour != now.Format(stats.HourLayout) || cur.Dims != d ||
		cur.Counts != (stats.Counts{Requests: 2, Successes: 1, Failures: 1, InputTokens: 10, OutputTokens: 3}) {
		t.Fatalf("after restart: %+v", cur)
	}
	if other, _ := p.Stats("other"); len(other.Rows()) != 0 {
		t.Fatal("instances share statistics")
	}
}

func TestStatsFlushedWhileRunning(t *testing.T) {
	dir := t.TempDir()
	clk := newFakeClock(t0)
	p := newBadgerPool(t, dir, clk)
	defer p.Close()
	st, _ := p.Stats("test")
	st.Record(time.Now(), stats.Dims{Model: "m"}, stats.Counts{Requests: 1})
	deadline := time.Now().Add(5 * time.Second)
	for {
		recs, err := p.sh.store.Load("stats/test/")
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("statistics not flushed within 5 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
