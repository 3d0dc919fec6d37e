// Package translate reads and rewrites LLM API bodies and event streams.
package translate

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"sync"
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
//
// Its buffer is small (an open stream holds it for minutes) while the
// upstream sends an event at a time; while data keeps coming faster than
// it is read (a read filled all the room there was), it borrows a large one,
// so that a burst is read, and flushed to the client, in a few large pieces
// rather than many small ones. It gives the large one back before a read
// that may wait.
type SSEReader struct {
	src   io.Reader
	buf   []byte  // small, or *big while a burst lasts
	small []byte  // its own
	big   *[]byte // borrowed from bigBuffers
	r, w  int     // unread bytes are buf[r:w]
	err   error   // the source's error, once it gave one
	full  bool    // the last read filled all the room it had
	raw   []byte
	data  []byte
	max   int64 // largest event, 0 = unbounded
}

// ErrEventTooLarge is returned by Next for an event larger than the
// reader's bound: the stream cannot go on.
var ErrEventTooLarge = errors.New("stream event too large")

// sseBuffer is the reader's own buffer. Every event is copied out of it
// anyway (longer lines in pieces), and an open stream holds one, so it is
// small: the transport below already buffers the connection.
const sseBuffer = 2 << 10

// bigBuffers are lent to readers during a burst.
var bigBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// NewSSEReader reads events from r.
func NewSSEReader(r io.Reader) *SSEReader {
	small := make([]byte, sseBuffer)
	return &SSEReader{src: r, buf: small, small: small}
}

// Reset lets a pooled reader serve another stream, whose events may be
// at most max bytes (0 = unbounded). A buffer grown by a large event is
// dropped rather than kept in the pool.
func (s *SSEReader) Reset(r io.Reader, max int64) {
	s.giveBack()
	s.src, s.buf, s.r, s.w, s.err, s.full = r, s.small, 0, 0, nil, false
	s.max = max
	if cap(s.raw) > keepCap {
		s.raw = nil
	}
	if cap(s.data) > keepCap {
		s.data = nil
	}
	s.raw, s.data = s.raw[:0], s.data[:0]
}

func (s *SSEReader) giveBack() {
	if s.big != nil {
		bigBuffers.Put(s.big)
		s.big = nil
	}
}

// EventReady reports whether a whole next event is already read from the
// upstream and buffered, so that Next returns it without waiting. When it
// is not, whatever was written to the client should be flushed now.
func (s *SSEReader) EventReady() bool {
	b := s.buf[s.r:s.w]
	return bytes.Contains(b, lf2) || bytes.Contains(b, crlf2)
}

// Waits reports whether the next Next may have to wait for the upstream:
// no whole event is buffered, and the upstream has not ended its stream
// (at its end, Next answers at once). Only then must what was written to
// the client be flushed now; otherwise it goes out with what follows (the
// stream's end included, which costs no write of its own then).
func (s *SSEReader) Waits() bool {
	return s.err == nil && !s.EventReady()
}

var lf2, crlf2 = []byte("\n\n"), []byte("\r\n\r\n")

// readLine is bufio.Reader.ReadSlice('\n') over the reader's own buffer:
// a line including its '\n'; a piece of one and bufio.ErrBufferFull when
// the buffer holds no '\n'; what is left and the source's error at its end.
// The slice is valid until the next call.
func (s *SSEReader) readLine() ([]byte, error) {
	for {
		if i := bytes.IndexByte(s.buf[s.r:s.w], '\n'); i >= 0 {
			line := s.buf[s.r : s.r+i+1]
			s.r += i + 1
			return line, nil
		}
		if s.err != nil {
			line := s.buf[s.r:s.w]
			s.r = s.w
			return line, s.err
		}
		if s.w-s.r == len(s.buf) {
			line := s.buf[s.r:s.w]
			s.r = s.w
			return line, bufio.ErrBufferFull
		}
		s.fill()
	}
}

// fill reads once from the source, into the large buffer if the last read
// filled its room (more is surely waiting), else into the small one.
func (s *SSEReader) fill() {
	n := s.w - s.r
	switch {
	case s.full && s.big == nil:
		s.big = bigBuffers.Get().(*[]byte)
		copy(*s.big, s.buf[s.r:s.w])
		s.buf, s.r, s.w = *s.big, 0, n
	case !s.full && s.big != nil && n <= len(s.small):
		copy(s.small, s.buf[s.r:s.w])
		s.giveBack()
		s.buf, s.r, s.w = s.small, 0, n
	case s.r > 0:
		copy(s.buf, s.buf[s.r:s.w])
		s.r, s.w = 0, n
	}
	for range 100 {
		m, err := s.src.Read(s.buf[s.w:])
		s.w += m
		if err != nil {
			s.err, s.full = err, false
			return
		}
		if m > 0 {
			s.full = s.w == len(s.buf)
			return
		}
	}
	s.err = io.ErrNoProgress
}

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
		line, err := s.readLine()
		s.raw = append(s.raw, line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			if s.max > 0 && int64(len(s.raw)) > s.max {
				return Event{}, ErrEventTooLarge
			}
			line, err = s.readLine()
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
