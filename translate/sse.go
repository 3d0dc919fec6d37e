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

// SSEReader splits an event stream into events. An event that lies whole
// in its buffer is handed out where it lies, without a copy; one that
// spans reads is gathered in a buffer of its own.
//
// An open stream spends most of its life waiting for the upstream (a
// model thinking), so the reader holds no buffer while it waits: a read
// that may wait, one with nothing unread before it, goes into a few bytes
// of the reader's own (probe), and a buffer is borrowed only once bytes
// have come and an event needs more room. While data keeps coming faster
// than it is read (a read filled all the room there was), it borrows a
// large buffer, so that a burst is read, and flushed to the client, in a
// few large pieces rather than many small ones.
type SSEReader struct {
	src   io.Reader
	buf   []byte  // unread bytes are buf[r:w]: probe, *small or *big, nil before the first read
	small *[]byte // borrowed from smallBuffers
	big   *[]byte // borrowed from bigBuffers
	r, w  int
	err   error // the source's error, once it gave one
	full  bool  // the last read filled all the room it had (never the probe's)
	probe [probeSize]byte

	// The event being read starts at buf[at] while it lies whole in buf;
	// once it spans a read it is gathered in raw (copied is true).
	at     int
	copied bool
	raw    []byte
	data   []byte // the event's data lines joined, when it has several
	max    int64  // largest event, 0 = unbounded
}

// ErrEventTooLarge is returned by Next for an event larger than the
// reader's bound: the stream cannot go on.
var ErrEventTooLarge = errors.New("stream event too large")

// sseBuffer is the size of the buffers an SSEReader borrows while an event
// is read; probeSize what it reads into while it may wait. A chunk of a
// stream is typically 100-400 bytes.
const (
	sseBuffer = 2 << 10
	probeSize = 128
)

// smallBuffers and bigBuffers are lent to readers: small ones while an
// event is read, big ones during a burst.
var (
	smallBuffers = sync.Pool{New: func() any { b := make([]byte, sseBuffer); return &b }}
	bigBuffers   = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
)

// NewSSEReader reads events from r.
func NewSSEReader(r io.Reader) *SSEReader {
	return &SSEReader{src: r}
}

// Reset lets a pooled reader serve another stream, whose events may be
// at most max bytes (0 = unbounded). An event buffer grown by a large
// event is dropped rather than kept in the pool.
func (s *SSEReader) Reset(r io.Reader, max int64) {
	s.giveBack(nil)
	s.src, s.buf, s.r, s.w, s.err, s.full = r, nil, 0, 0, nil, false
	s.at, s.copied = 0, false
	s.max = max
	if cap(s.raw) > keepCap {
		s.raw = nil
	}
	if cap(s.data) > keepCap {
		s.data = nil
	}
	s.raw, s.data = s.raw[:0], s.data[:0]
}

// giveBack returns the borrowed buffers but the one that inUse starts
// (nil: all of them); the caller moves what is unread first.
func (s *SSEReader) giveBack(inUse []byte) {
	if s.small != nil && (inUse == nil || &inUse[0] != &(*s.small)[0]) {
		smallBuffers.Put(s.small)
		s.small = nil
	}
	if s.big != nil && (inUse == nil || &inUse[0] != &(*s.big)[0]) {
		bigBuffers.Put(s.big)
		s.big = nil
	}
}

func (s *SSEReader) onProbe() bool { return len(s.buf) == probeSize && &s.buf[0] == &s.probe[0] }

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

// readLine is bufio.Reader.ReadSlice('\n') over the reader's buffer: a
// line including its '\n'; a piece of one and bufio.ErrBufferFull when the
// buffer holds no '\n'; what is left and the source's error at its end.
// The slice is valid until the next call. Before a read moves the buffer,
// the event read so far is gathered in raw.
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
		if s.w-s.r == len(s.buf) && s.buf != nil && !s.onProbe() {
			line := s.buf[s.r:s.w]
			s.r = s.w
			return line, bufio.ErrBufferFull
		}
		if !s.copied && s.r > s.at {
			s.raw = append(s.raw[:0], s.buf[s.at:s.r]...)
			s.copied = true
		}
		s.fill()
		s.at = s.r
	}
}

// fill moves what is unread to the front of the buffer it belongs in and
// reads once from the source: into the large buffer if the last read
// filled its room (more is surely waiting); into the probe if nothing is
// unread, since this read may wait; else into a small buffer.
func (s *SSEReader) fill() {
	n := s.w - s.r
	var to []byte
	switch {
	case s.full:
		if s.big == nil {
			s.big = bigBuffers.Get().(*[]byte)
		}
		to = *s.big
	case n == 0 && s.buf != nil:
		to = s.probe[:]
	case n <= sseBuffer:
		if s.small == nil {
			s.small = smallBuffers.Get().(*[]byte)
		}
		to = *s.small
	default:
		// More unread than a small buffer holds: it is in the large one.
		to = *s.big
	}
	copy(to, s.buf[s.r:s.w])
	s.buf, s.r, s.w = to, 0, n
	s.giveBack(to)
	for range 100 {
		m, err := s.src.Read(s.buf[s.w:])
		s.w += m
		if err != nil {
			s.err, s.full = err, false
			return
		}
		if m > 0 {
			s.full = s.w == len(s.buf) && !s.onProbe()
			return
		}
	}
	s.err = io.ErrNoProgress
}

// keepCap is the largest event buffer a pooled reader keeps.
const keepCap = 64 << 10

// event is the event read so far.
func (s *SSEReader) event() []byte {
	if s.copied {
		return s.raw
	}
	return s.buf[s.at:s.r]
}

// Next returns the next event. At the end of the stream it returns io.EOF
// if the stream ended on an event boundary and io.ErrUnexpectedEOF if it was
// cut inside an event.
func (s *SSEReader) Next() (Event, error) {
	s.raw, s.copied, s.at = s.raw[:0], false, s.r
	// Where the event's name and (single) data line lie in it: offsets
	// survive its being gathered into raw, slices would not.
	var nameFrom, nameTo, dataFrom, dataTo, dataLines int
	for {
		start := len(s.event())
		line, err := s.readLine()
		if s.copied {
			s.raw = append(s.raw, line...)
		}
		for errors.Is(err, bufio.ErrBufferFull) {
			if s.max > 0 && int64(len(s.event())) > s.max {
				return Event{}, ErrEventTooLarge
			}
			line, err = s.readLine()
			if s.copied {
				s.raw = append(s.raw, line...)
			}
		}
		ev := s.event()
		if s.max > 0 && int64(len(ev)) > s.max {
			return Event{}, ErrEventTooLarge
		}
		if err != nil {
			if err == io.EOF {
				if len(bytes.TrimSpace(ev)) == 0 {
					return Event{}, io.EOF
				}
				return Event{}, io.ErrUnexpectedEOF
			}
			return Event{}, err
		}
		l := bytes.TrimRight(ev[start:], "\r\n")
		if len(l) == 0 {
			if start == 0 {
				// Stray blank line between events: skip it.
				s.raw, s.copied, s.at = s.raw[:0], false, s.r
				continue
			}
			out := Event{Raw: ev}
			if nameTo > 0 {
				out.Name = ev[nameFrom:nameTo]
			}
			switch {
			case dataLines == 1:
				out.Data = ev[dataFrom:dataTo]
			case dataLines > 1:
				out.Data = s.data
			}
			return out, nil
		}
		field, from := l, start+len(l)
		if i := bytes.IndexByte(l, ':'); i >= 0 {
			field, from = l[:i], start+i+1
			if from < start+len(l) && ev[from] == ' ' {
				from++
			}
		}
		to := start + len(l)
		switch string(field) {
		case "data":
			dataLines++
			switch dataLines {
			case 1:
				dataFrom, dataTo = from, to
			case 2:
				s.data = append(append(append(s.data[:0], ev[dataFrom:dataTo]...), '\n'), ev[from:to]...)
			default:
				s.data = append(append(s.data, '\n'), ev[from:to]...)
			}
		case "event":
			nameFrom, nameTo = from, to
		}
	}
}
