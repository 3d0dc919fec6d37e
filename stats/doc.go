// Package stats is what happened: the usage statistics of each handler
// instance (requests, successes, failures and tokens by hour, model, key
// and upstream, kept for Retention and saved in a store.Store) and its
// request log (the last requests, in memory).
//
// Both outlive config reloads: a Book lives with the storage it saves to,
// and a Log is shared by the handlers of one instance name (AcquireLog).
// The statistics survive restarts too, with persistent storage.
package stats
