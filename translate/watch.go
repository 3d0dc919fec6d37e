package translate

import (
	"strings"
	"unsafe"
)

// WatchState is what every Watch reports. The format packages' watches
// embed it for its Usage, Finished and Failed methods, and update it as
// they read events. A watch reads a stream the proxy relays untouched
// (client and provider speak the same format) with a few gjson lookups per
// event, where a StreamDecoder would decode every event in full; it agrees
// with its format's StreamDecoder on usage and on whether the stream
// finished (a test runs them side by side over the recorded streams).
type WatchState struct {
	usage    Usage
	finished bool
	failed   string
}

// Usage is the usage reported so far.
func (s *WatchState) Usage() Usage { return s.usage }

// Finished reports whether the stream ended properly, or with an error.
func (s *WatchState) Finished() bool { return s.finished }

// Failed is the message of an error the upstream put in the stream.
func (s *WatchState) Failed() string { return s.failed }

// MergeUsage adds a usage report that may hold only some fields.
func (s *WatchState) MergeUsage(u Usage) { s.usage.Merge(u) }

// SetUsage replaces the usage with a complete report.
func (s *WatchState) SetUsage(u Usage) { s.usage = u }

// Finish records that the stream ended properly.
func (s *WatchState) Finish() { s.finished = true }

// Fail records that the stream ended with an error, whose message is the
// first of msgs that is not empty.
func (s *WatchState) Fail(msgs ...string) {
	s.finished = true
	s.failed = "the upstream reported an error in the stream"
	for _, m := range msgs {
		if m != "" {
			s.failed = strings.Clone(m) // m may point into the reader's buffer
			break
		}
	}
}

// InPlace views an event's bytes as a string without copying them, for
// gjson lookups. What is read from it must be used before the SSE reader
// reuses its buffer (WatchState.Fail copies its message).
func InPlace(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
