// Package translate reads and rewrites LLM API bodies and event streams.
package translate

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// Event is one server-sent event. Its slices are only valid until the next
// call to SSEReader.Next.
type Event struct {
	// Raw is the event as received, including its terminating blank line.
	Raw []byte
	// Name is the value of the `event:` field, if any.
	Name []byte
	// Data is the value of the `data:` field(s), joined by newlines.
	Data []byte
}

// SSEReader splits an event stream into events without copying single-line
// payloads, so a passthrough stream costs no allocation per event.
type SSEReader struct {
	r    *bufio.Reader
	raw  []byte
	data []byte
	max  int64 // largest event, 0 = unbounded
}

// ErrEventTooLarge is returned by Next for an event larger than the
// reader's bound: the stream cannot go on.
var ErrEventTooLarge = errors.New("stream event too large")

// sseBuffer is the reader's staging buffer. Every event is copied out of
// it anyway (longer lines in pieces), and an open stream holds one, so it
// is small: the transport below already buffers the connection.
const sseBuffer = 2 << 10

// NewSSEReader reads events from r.
func NewSSEReader(r io.Reader) *SSEReader {
	return &SSEReader{r: bufio.NewReaderSize(r, sseBuffer)}
}

// Reset lets a pooled reader serve another stream, whose events may be
// at most max bytes (0 = unbounded). A buffer grown by a large event is
// dropped rather than kept in the pool.
func (s *SSEReader) Reset(r io.Reader, max int64) {
	s.r.Reset(r)
	s.max = max
	if cap(s.raw) > keepCap {
		s.raw = nil
	}
	if cap(s.data) > keepCap {
		s.data = nil
	}
	s.raw, s.data = s.raw[:0], s.data[:0]
}

// EventReady reports whether a whole next event is already read from the
// upstream and buffered, so that Next returns it without waiting. When it
// is not, whatever was written to the client should be flushed now.
func (s *SSEReader) EventReady() bool {
	n := s.r.Buffered()
	if n == 0 {
		return false
	}
	b, _ := s.r.Peek(n)
	return bytes.Contains(b, lf2) || bytes.Contains(b, crlf2)
}

var lf2, crlf2 = []byte("\n\n"), []byte("\r\n\r\n")

// keepCap is the largest event buffer a pooled reader keeps.
const keepCap = 64 << 10

// Next returns the next event. At the end of the stream it returns io.EOF
// if the stream ended on an event boundary and io.ErrUnexpectedEOF if it was
// cut inside an event.
func (s *SSEReader) Next() (Event, error) {
	s.raw = s.raw[:0]
	var ev Event
	dataLines := 0
	for {
		start := len(s.raw)
		line, err := s.r.ReadSlice('\n')
		s.raw = append(s.raw, line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			if s.max > 0 && int64(len(s.raw)) > s.max {
				return Event{}, ErrEventTooLarge
			}
			line, err = s.r.ReadSlice('\n')
			s.raw = append(s.raw, line...)
		}
		if s.max > 0 && int64(len(s.raw)) > s.max {
			return Event{}, ErrEventTooLarge
		}
		if err != nil {
			if err == io.EOF {
				if len(bytes.TrimSpace(s.raw)) == 0 {
					return Event{}, io.EOF
				}
				return Event{}, io.ErrUnexpectedEOF
			}
			return Event{}, err
		}
		l := bytes.TrimRight(s.raw[start:], "\r\n")
		if len(l) == 0 {
			if start == 0 {
				// Stray blank line between events: skip it.
				s.raw = s.raw[:0]
				continue
			}
			ev.Raw = s.raw
			if dataLines > 1 {
				ev.Data = s.data
			}
			return ev, nil
		}
		field, value := l, []byte(nil)
		if i := bytes.IndexByte(l, ':'); i >= 0 {
			field, value = l[:i], l[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "data":
			dataLines++
			switch dataLines {
			case 1:
				ev.Data = value
			case 2:
				s.data = append(append(append(s.data[:0], ev.Data...), '\n'), value...)
			default:
				s.data = append(append(s.data, '\n'), value...)
			}
		case "event":
			ev.Name = value
		}
	}
}
