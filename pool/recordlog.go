package pool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/llmproxy/caddy-llm-proxy/store"
)

// Key records are stored as a log. Each flush writes the records that
// changed as one batch, a single store record "keylog/<seq>", rather than
// one store record per key: under load most keys change every second, and
// a store write per key costs Badger an entry, a transaction slot and their
// allocations (about 3 µs and 14 allocations a key, against a few bytes of
// copying in a batch). That cost grows with the number of keys, while a
// request's cost must not.
//
// Beside what changed, each flush also writes a few of the other keys, in
// the order the keys were first seen (a sweep). Once a sweep has written
// every key, the batches from before it began are superseded and deleted,
// so the log stays about one sweep long and loading it stays quick. A
// sweep's share of a flush is a quarter of what changed (sweepMin keys at
// least): its cost is spread evenly, without a pause for a snapshot of
// every key under the lock, and an idle proxy writes nothing.
//
// Reading the log applies the batches in order, a later record of a key
// replacing an earlier one. A batch is written whole or not at all
// (store.Store), and batches only ever supersede older ones, so a crash at
// any point leaves a log that loads to the state of its last whole batch.
//
// Versions before stored each key under "key/<id>"; those records are read
// first, and deleted when the first sweep is done.
const (
	logPrefix = "keylog/"
	// logFormat is a batch's first byte. Then come its records, each as
	// the uvarint length of the key's ID, the ID, the uvarint length of
	// the record and the record; a record of length 0 deletes the key.
	logFormat = 0x01
	// logChunk is about where a batch is split in store records of its
	// own (consecutive sequence numbers), so that no store value grows
	// with the number of keys.
	logChunk = 1 << 20
	sweepMin = 256
)

// recordLog is the flusher's place in the log; only the flusher uses it.
type recordLog struct {
	first, next uint64   // the stored batches are first..next-1
	legacy      []string // IDs with a "key/<id>" record of versions before
	// The sweep began with batch from; it writes shared.order[at:end].
	// end < 0: a new sweep begins with the next flush.
	from    uint64
	at, end int
}

func logKey(seq uint64) string { return fmt.Sprintf("%s%016x", logPrefix, seq) }

// appendLogRecord appends a key's record to a batch (rec nil: the key is
// deleted).
func appendLogRecord(b []byte, id string, rec []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(id)))
	b = append(b, id...)
	b = binary.AppendUvarint(b, uint64(len(rec)))
	return append(b, rec...)
}

var errCorruptBatch = errors.New("truncated or corrupt batch of key records")

// applyBatch applies a batch's records to recs, slices of b; on a corrupt
// batch it keeps what it read before the damage and says so.
func applyBatch(recs map[string][]byte, b []byte) error {
	if len(b) == 0 || b[0] != logFormat {
		return errCorruptBatch
	}
	rd := recordReader{b: b[1:]}
	for len(rd.b) > 0 {
		id, rec := rd.bytes(), rd.bytes()
		if rd.err != nil || len(id) == 0 {
			return errCorruptBatch
		}
		if len(rec) == 0 {
			delete(recs, string(id))
		} else {
			recs[string(id)] = rec
		}
	}
	return nil
}

// loadRecords reads every key's latest record by ID, and where the log
// stands. A damaged batch is logged and what can be read of it is used.
func loadRecords(st store.Store, logger *zap.Logger) (map[string][]byte, recordLog, error) {
	l := recordLog{end: -1}
	recs, err := st.Load(keyPrefix)
	if err != nil {
		return nil, l, err
	}
	byID := make(map[string][]byte, len(recs))
	for k, v := range recs {
		id := strings.TrimPrefix(k, keyPrefix)
		byID[id] = v
		l.legacy = append(l.legacy, id)
	}
	batches, err := st.Load(logPrefix)
	if err != nil {
		return nil, l, err
	}
	seqs := make([]uint64, 0, len(batches))
	for k := range batches {
		seq, err := strconv.ParseUint(strings.TrimPrefix(k, logPrefix), 16, 64)
		if err != nil {
			logger.Warn("ignoring a stored record of unknown name", zap.String("record", k))
			continue
		}
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	for _, seq := range seqs {
		if err := applyBatch(byID, batches[logKey(seq)]); err != nil {
			logger.Warn("key states: using what can be read of a damaged batch", zap.Uint64("batch", seq), zap.Error(err))
		}
	}
	if len(seqs) > 0 {
		l.first, l.next = seqs[0], seqs[len(seqs)-1]+1
	}
	return byID, l, nil
}
