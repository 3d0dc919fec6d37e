package stats

import (
	"encoding/json"
	"errors"
	"maps"
	"strconv"
	"testing"
	"time"
	_ "time/tzdata" // TestRecordHours needs a zone that changes its clocks

	"github.com/llmproxy/caddy-llm-proxy/store"
)

func TestUsageFlushReloadRetention(t *testing.T) {
	st := store.NewMemory()
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	b := NewBook(st, nil)
	u, err := b.Usage("a", tokyo)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := b.Usage("a", tokyo); again != u {
		t.Fatal("Usage is not shared")
	}
	now := time.Now()
	d := Dims{Model: "gpt-4o", Key: "oai-1", Upstream: "oai"}
	u.Record(now.In(tokyo), d, Counts{Requests: 1, Successes: 1, InputTokens: 10, OutputTokens: 3})
	u.Record(now.In(tokyo), d, Counts{Requests: 1, Failures: 1})
	u.Record(now.In(tokyo).Add(-time.Hour), Dims{Model: "fast"}, Counts{Requests: 1, Failures: 1})
	old := now.In(tokyo).Add(-Retention - 2*time.Hour)
	u.Record(old, d, Counts{Requests: 5})
	if rows := u.Rows(); len(rows) != 3 || rows[0].Hour != old.Format(HourLayout) {
		t.Fatalf("rows %+v", rows)
	}
	if err := b.Flush(now); err != nil {
		t.Fatal(err)
	}
	if rows := u.Rows(); len(rows) != 2 {
		t.Fatalf("the hour past retention outlived the flush: %+v", rows)
	}

	// The records: one per hour, under stats/<instance>/<hour>, in the form
	// earlier versions wrote, so existing data still loads.
	recs, _ := st.Load("stats/")
	hour := now.In(tokyo).Format(HourLayout)
	if len(recs) != 2 || recs["stats/a/"+hour] == nil {
		t.Fatalf("records %q", recs)
	}
	var rows []struct {
		M, K, U string
		C       map[string]int64
	}
	if err := json.Unmarshal(recs["stats/a/"+hour], &rows); err != nil || len(rows) != 1 ||
		rows[0].M != "gpt-4o" || rows[0].K != "oai-1" || rows[0].U != "oai" || rows[0].C["requests"] != 2 || rows[0].C["input_tokens"] != 10 {
		t.Fatalf("%s %v", recs["stats/a/"+hour], err)
	}

	// A fresh Book on the same store (a restart) reads them back.
	b2 := NewBook(st, nil)
	u2, err := b2.Usage("a", tokyo)
	if err != nil {
		t.Fatal(err)
	}
	got := u2.Rows()
	if len(got) != 2 || got[1].Hour != hour || got[1].Dims != d ||
		got[1].Counts != (Counts{Requests: 2, Successes: 1, Failures: 1, InputTokens: 10, OutputTokens: 3}) {
		t.Fatalf("after reload %+v", got)
	}
	if other, _ := b2.Usage("b", tokyo); len(other.Rows()) != 0 {
		t.Fatal("instances share statistics")
	}

	// An hour saved earlier leaves the store once it is past retention.
	u2.Record(old, d, Counts{Requests: 1})
	if err := b2.Flush(old.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if recs, _ := st.Load("stats/a/" + old.Format(HourLayout)); len(recs) != 1 {
		t.Fatalf("old hour not saved while in retention: %q", recs)
	}
	if err := b2.Flush(now); err != nil {
		t.Fatal(err)
	}
	if recs, _ := st.Load("stats/a/" + old.Format(HourLayout)); len(recs) != 0 {
		t.Fatalf("old hour not deleted past retention: %q", recs)
	}

	// Unreadable records are skipped, not fatal.
	_ = st.Save(map[string][]byte{"stats/c/2026-01-01T00": []byte("{")})
	if c, err := NewBook(st, nil).Usage("c", time.UTC); err != nil || len(c.Rows()) != 0 {
		t.Fatalf("%v %+v", err, c)
	}
}

// failing is a store whose saves fail while fail is set.
type failing struct {
	store.Store
	fail bool
}

func (f *failing) Save(b map[string][]byte) error {
	if f.fail {
		return errors.New("disk full")
	}
	return f.Store.Save(b)
}

func TestFlushRetriesWhatFailed(t *testing.T) {
	st := &failing{Store: store.NewMemory(), fail: true}
	b := NewBook(st, nil)
	u, _ := b.Usage("a", nil)
	now := time.Now().UTC()
	u.Record(now, Dims{Model: "m"}, Counts{Requests: 1})
	if err := b.Flush(now); err == nil {
		t.Fatal("failed save not reported")
	}
	st.fail = false
	if err := b.Flush(now); err != nil {
		t.Fatal(err)
	}
	if recs, _ := st.Load("stats/a/"); len(recs) != 1 {
		t.Fatalf("the failed hour was not saved again: %q", recs)
	}
	if err := b.Flush(now); err != nil {
		t.Fatal(err)
	}
}

// An hour of many groups (a pool of many keys) is written whole once, then
// as parts holding only what changed; it reads back the same, is written
// whole again after maxParts parts, and leaves with all its parts.
func TestUsageParts(t *testing.T) {
	st := store.NewMemory()
	b := NewBook(st, nil)
	u, _ := b.Usage("a", time.UTC)
	now := time.Now().UTC()
	hour := now.Format(HourLayout)
	key := func(i int) Dims { return Dims{Model: "m", Key: "oai-" + strconv.Itoa(i), Upstream: "oai"} }
	for i := range 100 {
		u.Record(now, key(i), Counts{Requests: 1})
	}
	flush := func() map[string][]byte {
		t.Helper()
		if err := b.Flush(now); err != nil {
			t.Fatal(err)
		}
		recs, _ := st.Load("stats/a/")
		return recs
	}
	if recs := flush(); len(recs) != 1 || recs["stats/a/"+hour] == nil {
		t.Fatalf("first write: %v records", len(recs))
	}
	for round := 1; round <= 3; round++ {
		u.Record(now, key(round), Counts{Requests: 10})
		recs := flush()
		part := recs["stats/a/"+hour+"."+strconv.Itoa(round)]
		var rows []record
		if err := json.Unmarshal(part, &rows); err != nil || len(rows) != 1 || len(recs) != 1+round {
			t.Fatalf("round %d: %d records, part %s", round, len(recs), part)
		}
	}
	total := func(u *Usage) (n int64) {
		for _, r := range u.Rows() {
			n += r.Requests
		}
		return n
	}
	if got := total(u); got != 130 {
		t.Fatalf("%d requests", got)
	}
	// Read back by a new Book: the same.
	u2, _ := NewBook(st, nil).Usage("a", time.UTC)
	if got := total(u2); got != 130 {
		t.Fatalf("read back: %d requests", got)
	}
	// Most groups changed: whole again, parts gone.
	for i := range 100 {
		u.Record(now, key(i), Counts{Requests: 1})
	}
	if recs := flush(); len(recs) != 1 {
		t.Fatalf("after most changed: %d records", len(recs))
	}
	for range maxParts + 1 {
		u.Record(now, key(7), Counts{Requests: 1})
		flush()
	}
	if recs := flush(); len(recs) > 2 {
		t.Fatalf("after %d parts: %d records", maxParts+1, len(recs))
	}
	u3, _ := NewBook(st, nil).Usage("a", time.UTC)
	if got, want := total(u3), total(u); got != want || want != 230+maxParts+1 {
		t.Fatalf("read back %d, have %d", got, want)
	}
	// Past retention: every record of the hour goes.
	u.Record(now, key(8), Counts{Requests: 1})
	flush()
	if err := b.Flush(now.Add(Retention + 2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if recs, _ := st.Load("stats/a/"); len(recs) != 0 {
		t.Fatalf("%d records left past retention", len(recs))
	}
}

// Record names each request's hour as t.Format(HourLayout) would, though it
// formats once an hour: across hour ends, back-stepping clocks, zones with
// half-hour offsets and a change of clocks.
func TestRecordHours(t *testing.T) {
	kolkata := time.FixedZone("IST", 5*3600+1800)
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err) // time/tzdata is linked in: never
	}
	u := &Usage{hours: map[string]map[Dims]*Counts{}, dirty: map[string]bool{},
		changed: map[string]map[*Counts]Dims{}, parts: map[string]int{}, whole: map[string]bool{}}
	want := map[string]int64{}
	start := time.Date(2026, 11, 1, 3, 0, 0, 0, time.UTC) // New York falls back at 06:00 UTC
	steps := []time.Duration{0, 20 * time.Minute, 40 * time.Minute, time.Second, -2 * time.Minute, 59 * time.Minute, 31 * time.Minute, 30 * time.Minute, -time.Hour, 3 * time.Hour}
	at := start
	for _, loc := range []*time.Location{time.UTC, kolkata, ny, kolkata} {
		for _, s := range steps {
			at = at.Add(s)
			lt := at.In(loc)
			u.Record(lt, Dims{Key: "k"}, Counts{Requests: 1})
			want[lt.Format(HourLayout)]++
		}
	}
	got := map[string]int64{}
	for _, r := range u.Rows() {
		got[r.Hour] += r.Requests
	}
	if !maps.Equal(got, want) {
		t.Errorf("hours %v, want %v", got, want)
	}
}
