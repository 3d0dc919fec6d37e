// Package store persists the proxy's state as opaque records under string
// keys: key counters and health (package pool), keys and overrides added
// through the admin API, usage statistics (package stats).
//
// The interface is deliberately small, a prefix scan and a batched write,
// so that a shared backend such as Redis can stand in for the embedded
// Badger database: an implementation needs no transactions, iterators or
// TTLs. Records live under prefixes that name their owner ("keylog/<seq>",
// "admin/...", "stats/<instance>/<hour>"); a Store does not interpret them.
package store

// Store is where records are kept. Implementations are safe for concurrent
// use.
type Store interface {
	// Load returns every record whose key starts with prefix (a copy the
	// caller may keep). No record is not an error: the map is empty.
	Load(prefix string) (map[string][]byte, error)
	// Save writes the batch; a nil value deletes that key. A batch need
	// not be atomic, but every record is written whole or not at all.
	Save(batch map[string][]byte) error
	// Close releases the store. It is safe to call more than once.
	Close() error
}
