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
		w.states = append(w.states, s.stateOf(fmt.Sprintf("oai-%016x", i)))
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

// A flush writes what changed as one batch, whatever the number of keys,
// with a share of the others; once that sweep has written every key, the
// batches from before it are deleted.
func TestRecordLog(t *testing.T) {
	w := newLogWorld(t, &flakyStore{Store: store.NewMemory()}, 4*sweepMin)
	for i := range w.states {
		w.change(i)
	}
	// A sweep takes 4 flushes: the first sweep begins with the first
	// batch, so only the second one deletes anything (the first's four).
	for i, want := range []int{1, 2, 3, 4, 5, 6, 7, 4, 5, 6, 7, 4} {
		if i > 0 {
			for j := range 10 {
				w.change((i*37 + j*101) % len(w.states))
			}
		}
		saves := w.st.saves
		w.flush()
		if n := len(w.check()); n != want {
			t.Fatalf("flush %d: %d batches stored, want %d", i+1, n, want)
		}
		if i > 0 && w.st.saves-saves != 1+btoi(want == 4) {
			t.Fatalf("flush %d: %d store writes", i+1, w.st.saves-saves)
		}
	}
	// Nothing changed: nothing written, not even the sweep's share.
	saves := w.st.saves
	w.flush()
	if w.st.saves != saves {
		t.Fatal("a flush with nothing changed wrote")
	}
	// A restart reads the log, and the log goes on where it was.
	log := w.s.log
	w.s.Destruct()
	w2 := newLogWorld(t, w.st, 0)
	if w2.s.log.first != log.first || w2.s.log.next != log.next || len(w2.s.keys) != len(w.states) {
		t.Fatalf("reopened log %+v with %d keys, was %+v", w2.s.log, len(w2.s.keys), log)
	}
	for _, ks := range w.states {
		if got := w2.s.keys[ks.id]; got == nil || got.requests != ks.requests || got.tokens != ks.tokens {
			t.Fatalf("%s after restart: %+v", ks.id, got)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// A batch larger than a store record is split over several, and a restart
// reads them all.
func TestRecordLogChunks(t *testing.T) {
	w := newLogWorld(t, &flakyStore{Store: store.NewMemory()}, 30000)
	for i := range w.states {
		w.states[i].reason = strings.Repeat("r", 20)
		w.change(i)
	}
	w.flush()
	if names := w.check(); len(names) < 2 {
		t.Fatalf("%d keys in %d store record(s)", len(w.states), len(names))
	}
	for range 3 {
		w.change(0)
		w.flush()
		w.check()
	}
}

// Saves that fail lose nothing: the changes go out with the next flush,
// and batches that a finished sweep could not delete are deleted by the
// next one.
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
	if names := w.check(); len(names) != 1 {
		t.Fatalf("batches %v, want the last one", names)
	}

	// The batch is written, but deleting what it supersedes fails.
	st.Store = &failDeletes{Store: st.Store}
	w.change(5)
	if err := w.s.flush(); err == nil {
		t.Fatal("failed deletion not reported")
	}
	if n := len(w.check()); n != 2 {
		t.Fatalf("%d batches, want the one before and the new one", n)
	}
	st.Store = st.Store.(*failDeletes).Store
	w.change(6)
	w.flush()
	if names := w.check(); len(names) != 1 {
		t.Fatalf("after the next sweep: %v", names)
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
