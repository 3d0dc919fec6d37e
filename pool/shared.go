package pool

import (
	"errors"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/llmproxy/caddy-llm-proxy/stats"
	"github.com/llmproxy/caddy-llm-proxy/store"
)

// flushInterval bounds what a crash (kill -9) can lose: at most the last
// second of counts.
const flushInterval = time.Second

// keyPrefix is the Store prefix of key state records.
const keyPrefix = "key/"

// sharedStates holds one *shared per storage identity. Caddy provisions a new
// config before it cleans up the old one, so during a reload two Pools for
// the same storage are alive at once; the refcount lets them share one open
// Store (Badger locks its directory) and one set of counters, and closes the
// Store when the last Pool is closed.
var sharedStates = caddy.NewUsagePool()

// shared is the state that outlives a config: the Store, every key's runtime
// state by ID, and the flusher that persists it.
type shared struct {
	store  store.Store
	logger *zap.Logger

	// mu guards keys and everything in each keyState, and makes admission
	// (decide + record) atomic across all Pools on this storage.
	mu   sync.Mutex
	keys map[string]*keyState
	gone []string // IDs whose records are to be deleted (migrated away)
	// dirty lists the keys changed since the last flush (see markDirty),
	// so a flush costs what changed, not the number of keys.
	dirty []*keyState
	// volatile is true for memory storage: nothing outlives the shared
	// state, so there is nothing to flush.
	volatile bool
	// log is where the flusher is in the log of key records (see
	// recordLog); todo and events are the copies its last flush made.
	// Only the flusher uses them.
	log    recordLog
	todo   []pendingRecord
	events []event
	// order is every key state in the order first seen, for the sweep
	// (see recordLog); a state no longer in keys stays until a restart.
	order []*keyState

	// usage is the usage statistics of the handler instances on this
	// storage (see Pool.Stats), flushed with the key states; it has its
	// own lock.
	usage *stats.Book

	// remote is the link to Redis for storage "redis", nil otherwise; pools
	// are the Pools on this storage, to hear of other instances' changes.
	remote *remote
	pools  []*Pool

	// convs are the conversations' keys (see Conversation), on local
	// storage; it has its own locks.
	convs convTable

	stop    chan struct{}
	done    chan struct{}
	failing bool // the last flush failed (logged once, not every second)
}

// newShared opens the store, loads every key record and starts the flusher.
func newShared(open func() (store.Store, error), volatile bool, logger *zap.Logger, now time.Time) (*shared, error) {
	st, err := open()
	if err != nil {
		return nil, err
	}
	recs, log, err := loadRecords(st, logger)
	if err != nil {
		return nil, errors.Join(err, st.Close())
	}
	s := &shared{
		store:  st,
		logger: logger,
		keys:   make(map[string]*keyState, len(recs)),
		log:    log,
		usage:  stats.NewBook(st, logger),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	cutoff := now.UnixNano() - minute
	for id, v := range recs {
		ks, err := decodeKeyState(id, v, cutoff)
		if err != nil {
			logger.Warn("ignoring unreadable key state", zap.String("key_id", id), zap.Error(err))
			continue
		}
		s.track(ks)
	}
	s.volatile = volatile
	if volatile {
		close(s.done)
	} else {
		go s.run()
	}
	return s, nil
}

// state returns the runtime state of the key, creating it on first use.
// A key whose state versions before stored under its 8-hex-digit ID (see
// KeyID) takes that state over; the old record is deleted at the next
// flush. The caller holds mu.
func (s *shared) state(spec KeySpec) *keyState {
	id := spec.ID
	if ks := s.keys[id]; ks != nil {
		return ks
	}
	if old := legacyID(id); old != "" {
		if ks := s.keys[old]; ks != nil && len(ks.slots) == 0 && id == KeyID(spec.Upstream, spec.Secret) {
			delete(s.keys, old)
			ks.id = id
			ks.markDirty()
			s.gone = append(s.gone, old)
			s.keys[id] = ks
			return ks
		}
	}
	return s.stateOf(id)
}

// stateOf returns the runtime state of a key or client by ID, creating it
// on first use; the caller holds mu.
func (s *shared) stateOf(id string) *keyState {
	ks := s.keys[id]
	if ks == nil {
		ks = newKeyState(id)
		s.track(ks)
	}
	return ks
}

// track makes ks the state of its ID: its changes go to the flusher, and
// it has its place in the sweep (see recordLog). The caller holds mu.
func (s *shared) track(ks *keyState) {
	ks.queue = &s.dirty
	s.keys[ks.id] = ks
	s.order = append(s.order, ks)
}

func (s *shared) run() {
	defer close(s.done)
	t := time.NewTicker(flushInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			err := errors.Join(s.flush(), s.usage.Flush(time.Now()))
			switch {
			case err != nil && !s.failing:
				s.logger.Error("saving key states failed; will keep retrying", zap.Error(err))
			case err == nil && s.failing:
				s.logger.Info("saving key states works again")
			}
			s.failing = err != nil
		}
	}
}

// flush writes every key state changed since the last flush, and the
// sweep's share of the others, as one batch of the log of records (see
// recordLog). The states are copied under the lock and encoded and written
// outside it, so admission never waits on the disk.
//
// Under load most keys change every second, so a flush allocates little
// per key: the events are copied into one slab and the records encoded
// into the batch. The copies go into the previous flush's slices, which
// with many busy keys are megabytes (a key busy all minute has 600
// events), unless they grew past keptEvents.
func (s *shared) flush() error {
	todo, events := s.todo[:0], s.events[:0]
	defer func() {
		clear(todo) // drops their reason strings
		if cap(events) > keptEvents {
			todo, events = nil, nil
		}
		s.todo, s.events = todo[:0], events[:0]
	}()
	l := &s.log
	s.mu.Lock()
	if len(s.dirty) == 0 && len(s.gone) == 0 && len(l.legacy) == 0 {
		s.mu.Unlock()
		return nil
	}
	add := func(ks *keyState) {
		from := len(events)
		events = append(events, ks.ev[ks.head:]...)
		todo = append(todo, pendingRecord{id: ks.id, rec: ks.record(), from: from, to: len(events)})
	}
	if l.end < 0 {
		l.from, l.at, l.end = l.next, 0, len(s.order)
	}
	// The sweep's share; a key that changed is written below anyway.
	for n := max(sweepMin, len(s.dirty)/4); n > 0 && l.at < l.end; n-- {
		ks := s.order[l.at]
		if !ks.dirty && s.keys[ks.id] == ks {
			add(ks)
		}
		l.at++
	}
	for _, ks := range s.dirty {
		if ks.dirty && s.keys[ks.id] == ks {
			add(ks)
		}
		ks.dirty = false
	}
	clear(s.dirty)
	s.dirty = s.dirty[:0]
	gone := s.gone
	s.gone = nil
	s.mu.Unlock()

	batch := make(map[string][]byte, 1+len(gone))
	var b, rec []byte
	put := func() {
		batch[logKey(l.next)] = b
		l.next++
		b = nil
	}
	for i := range todo {
		p := &todo[i]
		if b == nil {
			// Room for the whole batch, or a chunk and its overrun.
			b = append(make([]byte, 0, min(logChunk+logChunk/8, 48*len(todo)+6*len(events))), logFormat)
		}
		p.rec.events = events[p.from:p.to]
		rec = p.rec.appendBinary(rec[:0])
		b = appendLogRecord(b, p.id, rec)
		if len(b) >= logChunk {
			put()
		}
	}
	for _, id := range gone {
		if b == nil {
			b = []byte{logFormat}
		}
		b = appendLogRecord(b, id, nil)
	}
	if b != nil {
		put()
	}
	if err := s.store.Save(batch); err != nil {
		// Try again next time, with a sweep of its own: what this one
		// wrote so far may be lost.
		l.end = -1
		s.mu.Lock()
		s.gone = append(s.gone, gone...)
		for _, p := range todo {
			if ks := s.keys[p.id]; ks != nil {
				ks.markDirty()
			}
		}
		s.mu.Unlock()
		return err
	}
	if l.at < l.end {
		return nil
	}
	// The sweep is done: every key is in the batches from l.from on, and
	// what is stored before them is superseded. Should deleting it fail,
	// the next sweep deletes it.
	del := make(map[string][]byte, int(l.from-l.first)+len(l.legacy))
	for seq := l.first; seq < l.from; seq++ {
		del[logKey(seq)] = nil
	}
	for _, id := range l.legacy {
		del[keyPrefix+id] = nil
	}
	l.end = -1
	if err := s.store.Save(del); err != nil {
		return err
	}
	l.first, l.legacy = l.from, nil
	return nil
}

// keptEvents bounds the slab of events a flush keeps for the next (24 MiB).
const keptEvents = 1 << 20

// pendingRecord is a record a flush is writing.
type pendingRecord struct {
	id       string
	rec      record
	from, to int // the record's events are flush's events[from:to]
}

// Destruct implements caddy.Destructor: it runs when the last Pool using
// this storage is closed. It stops the flusher, writes what is left and
// closes the store.
func (s *shared) Destruct() error {
	close(s.stop)
	<-s.done
	if s.remote != nil {
		var err error
		if !s.remote.r.Down() {
			err = s.usage.Flush(time.Now())
		}
		return errors.Join(err, s.store.Close())
	}
	if s.volatile {
		return s.store.Close()
	}
	return errors.Join(s.flush(), s.usage.Flush(time.Now()), s.store.Close())
}

var _ caddy.Destructor = (*shared)(nil)
