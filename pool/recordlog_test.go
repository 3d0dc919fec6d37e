package pool

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/llmproxy/caddy-llm-proxy/store"
)

// flakyStore is a memory store whose Saves fail while fail is set.
type flakyStore struct {
	store.Store
	fail  bool
	saves int
}

func (f *flakyStore) Save(batch map[string][]byte) error {
	f.saves++
	if f.fail {
		return errors.New("disk full")
	}
	return f.Store.Save(batch)
}

// logWorld is a shared on a store of its own, with n keys; change(i)
// changes key i as a request would.
type logWorld struct {
	t      *testing.T
	st     *flakyStore
	s      *shared
	states []*keyState
}

func newLogWorld(t *testing.T, st *flakyStore, n int) *logWorld {
	t.Helper()
	s, err := newShared(func() (store.Store, error) { return st, nil }, true, zap.NewNop(), t0)
	if err != nil {
		t.Fatal(err)
	}
	w := &logWorld{t: t, st: st, s: s}
	s.mu.Lock()
	for i := range n {
		w.states = append(w.states, s.clientState(fmt.Sprintf("oai-%016x", i)))
	}
	s.mu.Unlock()
	return w
}

func (w *logWorld) change(i int) {
	w.s.mu.Lock()
	ks := w.states[i]
	ks.requests++
	ks.tokens += 10
	ks.ev = append(ks.ev, event{start: t0.UnixNano() + ks.requests, n: 1, tokens: 10})
	ks.markDirty()
	w.s.mu.Unlock()
}

func (w *logWorld) flush() {
	w.t.Helper()
	if err := w.s.flush(); err != nil {
		w.t.Fatal(err)
	}
}

// check asserts that the store loads to every key's state, and returns the
// names of the batches stored.
func (w *logWorld) check() []string {
	w.t.Helper()
	recs, _, err := loadRecords(w.st, zap.NewNop())
	if err != nil {
		w.t.Fatal(err)
	}
	for _, ks := range w.states {
		r, err := decodeRecord(recs[ks.id])
		if want := persisted(ks); err != nil || !reflect.DeepEqual(r, want) {
			w.t.Fatalf("%s: stored %+v %v\nwant %+v", ks.id, r, err, want)
		}
	}
	if len(recs) != len(w.states) {
		w.t.Fatalf("%d records for %d keys", len(recs), len(w.states))
	}
	all, err := w.st.Load(logPrefix)
	if err != nil {
		w.t.Fatal(err)
	}
	var names []string
	for k := range all {
		names = append(names, k)
	}
	return names
}

// A flush writes what changed as one batch, whatever the number of keys;
// a snapshot writes every key and deletes the batches before it.
func TestRecordLog(t *testing.T) {
	w := newLogWorld(t, &flakyStore{Store: store.NewMemory()}, 50)
	for i := range 50 {
		w.change(i)
	}
	w.flush()
	if n := len(w.check()); n != 1 {
		t.Fatalf("%d batches after the first flush, want 1", n)
	}
	for round := range 20 {
		w.change(round)
		w.change(49 - round)
		w.flush()
	}
	if n := len(w.check()); n != 21 {
		t.Fatalf("%d batches, want 21", n)
	}
	before := w.s.log.next
	w.s.log.written = snapshotFactor * minSnapshot // a snapshot is due
	w.change(7)
	w.flush()
	names := w.check()
	if len(names) != 1 || names[0] != logKey(before) || w.s.log.first != before {
		t.Fatalf("after the snapshot: %v (first %d, want %s)", names, w.s.log.first, logKey(before))
	}
	// Nothing changed: nothing written.
	saves := w.st.saves
	w.flush()
	if w.st.saves != saves {
		t.Fatal("a flush with nothing changed wrote")
	}
	// A restart reads the log, and the log goes on where it was.
	w.s.Destruct()
	w2 := newLogWorld(t, w.st, 0)
	if w2.s.log.first != before || w2.s.log.next != before+1 || len(w2.s.keys) != 50 {
		t.Fatalf("reopened log %+v with %d keys", w2.s.log, len(w2.s.keys))
	}
	for _, ks := range w.states {
		if got := w2.s.keys[ks.id]; got == nil || got.requests != ks.requests || got.tokens != ks.tokens {
			t.Fatalf("%s after restart: %+v", ks.id, got)
		}
	}
}

// A snapshot larger than a store record is split over several, and a
// restart reads them all; the next snapshot comes once the batches since
// outweigh it.
func TestRecordLogChunks(t *testing.T) {
	w := newLogWorld(t, &flakyStore{Store: store.NewMemory()}, 0)
	w.s.mu.Lock()
	for i := range 30000 {
		ks := w.s.clientState(fmt.Sprintf("oai-%016x", i))
		ks.reason = strings.Repeat("r", 20)
		w.states = append(w.states, ks)
	}
	w.s.mu.Unlock()
	w.s.log.written = snapshotFactor * minSnapshot
	w.flush()
	names := w.check()
	if len(names) < 2 {
		t.Fatalf("a snapshot of %d bytes in %d store record(s)", w.s.log.snapshot, len(names))
	}
	if w.s.log.due() {
		t.Fatal("a snapshot is due right after one")
	}
	for round := 0; !w.s.log.due(); round++ {
		if round > 100 {
			t.Fatal("no snapshot due after 100 flushes of every key")
		}
		for i := range w.states {
			w.change(i)
		}
		w.flush()
	}
	w.flush()
	w.check()
}

// Saves that fail lose nothing: the changes go out with the next flush, a
// snapshot whose batches were not written leaves the older ones, and older
// batches that could not be deleted are deleted by the next snapshot.
func TestRecordLogFailures(t *testing.T) {
	st := &flakyStore{Store: store.NewMemory()}
	w := newLogWorld(t, st, 10)
	for i := range 10 {
		w.change(i)
	}
	w.flush()
	w.change(3)
	st.fail = true
	if err := w.s.flush(); err == nil {
		t.Fatal("flush into a failing store did not fail")
	}
	st.fail = false
	w.flush()
	w.check()

	// The snapshot fails: the batches stay.
	w.s.log.written = snapshotFactor * minSnapshot
	w.change(4)
	st.fail = true
	if err := w.s.flush(); err == nil {
		t.Fatal("snapshot into a failing store did not fail")
	}
	st.fail = false
	if stored, _ := st.Load(logPrefix); len(stored) != 2 {
		t.Fatalf("%d batches after a failed snapshot, want the 2 before", len(stored))
	}
	// The snapshot is written, but deleting what it supersedes fails.
	st.Store = &failDeletes{Store: st.Store}
	w.change(5)
	if err := w.s.flush(); err == nil {
		t.Fatal("failed deletion not reported")
	}
	if n := len(w.check()); n != 3 {
		t.Fatalf("%d batches, want the 2 before and the snapshot", n)
	}
	st.Store = st.Store.(*failDeletes).Store
	w.s.log.written = snapshotFactor * minSnapshot
	w.change(6)
	w.flush()
	if names := w.check(); len(names) != 1 {
		t.Fatalf("after the next snapshot: %v", names)
	}
}

// failDeletes fails every batch that deletes.
type failDeletes struct{ store.Store }

func (f *failDeletes) Save(batch map[string][]byte) error {
	for _, v := range batch {
		if v == nil {
			return errors.New("disk full")
		}
	}
	return f.Store.Save(batch)
}

// Records of versions before ("key/<id>") load under the log, and the first
// flush is a snapshot that deletes them; a key a batch deletes is gone.
func TestRecordLogLegacy(t *testing.T) {
	mem := store.NewMemory()
	old := richState(t0.UnixNano())
	old.id = "oai-0000000000000001"
	newer := appendLogRecord([]byte{logFormat}, "oai-0000000000000002", encodeState(old))
	gone := appendLogRecord([]byte{logFormat}, "oai-0000000000000003", encodeState(old))
	if err := mem.Save(map[string][]byte{
		keyPrefix + "oai-0000000000000001": encodeState(old),
		keyPrefix + "oai-0000000000000002": []byte(oldJSON),
		keyPrefix + "oai-0000000000000003": []byte(oldJSON),
		logKey(7):                          newer,
		logKey(9):                          appendLogRecord(gone, "oai-0000000000000003", nil),
	}); err != nil {
		t.Fatal(err)
	}
	w := newLogWorld(t, &flakyStore{Store: mem}, 0)
	if len(w.s.keys) != 2 || w.s.keys["oai-0000000000000003"] != nil || w.s.log.first != 7 || w.s.log.next != 10 {
		t.Fatalf("loaded %d keys, log %+v", len(w.s.keys), w.s.log)
	}
	for _, id := range []string{"oai-0000000000000001", "oai-0000000000000002"} {
		if ks := w.s.keys[id]; ks == nil || ks.requests != old.requests {
			t.Fatalf("%s: %+v, want the state of the newest record", id, ks)
		}
		w.states = append(w.states, w.s.keys[id])
	}
	w.flush()
	names := w.check()
	left, _ := mem.Load(keyPrefix)
	if len(names) != 1 || names[0] != logKey(10) || len(left) != 0 {
		t.Fatalf("after the first flush: batches %v, records of before %d", names, len(left))
	}
}

// Every prefix of a batch, and damaged ones, apply without a panic; a
// damaged batch applies what precedes the damage.
func TestRecordLogCorrupt(t *testing.T) {
	rec := encodeState(richState(t0.UnixNano()))
	b := appendLogRecord([]byte{logFormat}, "oai-a", rec)
	b = appendLogRecord(b, "oai-b", rec)
	whole := len(b)
	for i := range whole {
		recs := map[string][]byte{}
		err := applyBatch(recs, b[:i])
		ends := i == 1 || i == whole-len(rec)-len("oai-b")-2
		if ends != (err == nil) {
			t.Errorf("first %d of %d bytes: %v", i, whole, err)
		}
		if i > whole-len(rec)-len("oai-b")-2 && string(recs["oai-a"]) != string(rec) {
			t.Errorf("first %d bytes: the whole first record was not applied", i)
		}
	}
	for name, bad := range map[string][]byte{
		"empty":      nil,
		"format 2":   {2},
		"empty id":   {logFormat, 0, 0},
		"huge id":    {logFormat, 0xff, 0xff, 0xff, 0xff, 0x0f, 'a'},
		"huge value": {logFormat, 1, 'a', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	} {
		if err := applyBatch(map[string][]byte{}, bad); err == nil {
			t.Errorf("%s: applied", name)
		}
	}
}
