package store

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"go.uber.org/zap"
)

// badgerGCInterval is how often the value log is garbage-collected. Records
// are rewritten every second while traffic flows, so stale values pile up;
// a slow, steady GC keeps the directory small without competing with work.
const badgerGCInterval = 10 * time.Minute

// lockHint is the text Badger puts in the error when another process holds
// the directory lock; it is the same on every platform.
const lockHint = "Another process is using this Badger database"

// OpenBadger opens (creating if needed) a Badger database in dir as a Store.
//
// The options favour a small footprint over throughput: the data is a few
// records per key, rewritten about once a second. Writes are not synced: a
// crash loses at most what the OS had not yet written, in the same spirit as
// the one-second flush interval. Badger's own logging goes to logger, at
// warning level and above.
//
// Badger holds an exclusive lock on dir. Within one process the pool shares
// one Store per directory (see pool.New), so a failure to lock means
// another process has it; the error says so.
func OpenBadger(dir string, logger *zap.Logger) (Store, error) {
	if logger == nil {
		logger = zap.NewNop()
	}
	opts := badger.DefaultOptions(dir).
		WithLogger(badgerLogger{logger.Named("badger").Sugar()}).
		WithSyncWrites(false).
		WithMemTableSize(16 << 20).
		WithNumMemtables(2).
		WithValueLogFileSize(64 << 20).
		WithBlockCacheSize(8 << 20).
		WithNumCompactors(2).
		WithMetricsEnabled(false).
		WithDetectConflicts(false)
	db, err := badger.Open(opts)
	if err != nil {
		if strings.Contains(err.Error(), lockHint) {
			err = fmt.Errorf("%w: the llm_proxy storage directory %s is in use; this is usually another running Caddy "+
				"instance (use 'caddy reload' to apply config changes to it), otherwise give each Caddy its own storage directory",
				err, dir)
		}
		return nil, fmt.Errorf("opening badger store: %w", err)
	}
	s := &badgerStore{db: db, logger: logger, stop: make(chan struct{}), done: make(chan struct{})}
	go s.gcLoop()
	return s, nil
}

type badgerStore struct {
	db     *badger.DB
	logger *zap.Logger
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
	err    error
}

func (s *badgerStore) Load(prefix string) (map[string][]byte, error) {
	out := make(map[string][]byte)
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefix), PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			out[string(item.Key())] = v
		}
		return nil
	})
	return out, err
}

func (s *badgerStore) Save(batch map[string][]byte) error {
	if len(batch) == 0 {
		return nil
	}
	// A WriteBatch splits itself into as many transactions as the batch
	// needs, so a large flush never fails with ErrTxnTooBig.
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for k, v := range batch {
		var err error
		if v == nil {
			err = wb.Delete([]byte(k))
		} else {
			err = wb.Set([]byte(k), v)
		}
		if err != nil {
			return err
		}
	}
	return wb.Flush()
}

func (s *badgerStore) Close() error {
	s.once.Do(func() {
		close(s.stop)
		<-s.done
		s.err = s.db.Close()
	})
	return s.err
}

// gcLoop runs value-log GC until Close. One RunValueLogGC call rewrites at
// most one file, so it is repeated while it finds work.
func (s *badgerStore) gcLoop() {
	defer close(s.done)
	t := time.NewTicker(badgerGCInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			for {
				err := s.db.RunValueLogGC(0.5)
				if err == nil {
					select {
					case <-s.stop:
						return
					default:
						continue
					}
				}
				if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
					s.logger.Warn("badger value log GC failed", zap.Error(err))
				}
				break
			}
		}
	}
}

// badgerLogger routes Badger's logs to zap, dropping its chatty info and
// debug output (it logs every compaction and replay at info).
type badgerLogger struct{ l *zap.SugaredLogger }

func (b badgerLogger) Errorf(f string, v ...any) {
	b.l.Error(strings.TrimSpace(fmt.Sprintf(f, v...)))
}

func (b badgerLogger) Warningf(f string, v ...any) {
	b.l.Warn(strings.TrimSpace(fmt.Sprintf(f, v...)))
}

func (badgerLogger) Infof(string, ...any)  {}
func (badgerLogger) Debugf(string, ...any) {}
