package translate

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"unsafe"
)

func TestSSEReader(t *testing.T) {
	in := "data: {\"a\":1}\n\n" +
		"\n" + // stray blank line
		"event: message_start\r\ndata: {\"b\":2}\r\n\r\n" +
		": comment\ndata: line1\ndata: line2\ndata: line3\n\n" +
		"data: [DONE]\n\n"
	rd := NewSSEReader(strings.NewReader(in))
	want := []struct{ name, data, raw string }{
		{"", `{"a":1}`, "data: {\"a\":1}\n\n"},
		{"message_start", `{"b":2}`, "event: message_start\r\ndata: {\"b\":2}\r\n\r\n"},
		{"", "line1\nline2\nline3", ": comment\ndata: line1\ndata: line2\ndata: line3\n\n"},
		{"", "[DONE]", "data: [DONE]\n\n"},
	}
	for i, w := range want {
		ev, err := rd.Next()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if string(ev.Name) != w.name || string(ev.Data) != w.data || string(ev.Raw) != w.raw {
			t.Errorf("event %d = name %q data %q raw %q; want %q %q %q", i, ev.Name, ev.Data, ev.Raw, w.name, w.data, w.raw)
		}
	}
	if _, err := rd.Next(); err != io.EOF {
		t.Errorf("at the end: %v, want io.EOF", err)
	}
}

func TestSSEReaderCutStream(t *testing.T) {
	rd := NewSSEReader(strings.NewReader("data: {\"a\":1}\n\ndata: {\"b\""))
	if _, err := rd.Next(); err != nil {
		t.Fatal(err)
	}
	if _, err := rd.Next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("cut inside an event: %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestSSEReaderLongLine(t *testing.T) {
	long := strings.Repeat("x", 100<<10) // longer than the reader's buffer
	rd := NewSSEReader(strings.NewReader("data: " + long + "\n\n"))
	ev, err := rd.Next()
	if err != nil || string(ev.Data) != long {
		t.Fatalf("long line: err %v, %d bytes", err, len(ev.Data))
	}
}

// FuzzSSEReader: no input panics, and every event's raw bytes are a piece of
// the input, in order, however the input arrives: whole, or in pieces whose
// sizes (from sizes, cycled) move the reader between its probe, small and
// large buffers.
func FuzzSSEReader(f *testing.F) {
	for _, s := range []string{
		"data: {\"a\":1}\n\n", "event: x\ndata: y\n\n", "data: a\ndata: b\n\n",
		"data: [DONE]\n\n", "\n\n\n", "data", ":\n\n", "data: x\r\n\r\n", "data: cut",
	} {
		f.Add(s, []byte{0})
		f.Add(s+s+s, []byte{3, 200, 1})
	}
	long := "data: " + strings.Repeat("x", 5000) + "\n\nevent: e\ndata: y\ndata: z\n\n"
	f.Add(long+long+long, []byte{255, 100, 255, 255, 7})
	f.Add(strings.Repeat("data: {\"n\":1}\n\n", 300), []byte{255, 255, 255, 40})
	f.Fuzz(func(t *testing.T, in string, sizes []byte) {
		whole := readAll(t, strings.NewReader(in), in)
		if len(sizes) == 0 || sizes[0] == 0 {
			return
		}
		// Arriving in pieces changes nothing of what comes out.
		got := readAll(t, &pieces{s: in, sizes: sizes}, in)
		if len(got) != len(whole) {
			t.Fatalf("in pieces %d events, whole %d", len(got), len(whole))
		}
		for i := range got {
			if got[i] != whole[i] {
				t.Fatalf("event %d in pieces %q, whole %q", i, got[i], whole[i])
			}
		}
	})
}

// readAll reads every event from src (whose input is in), checking that
// each one's raw bytes are the next piece of the input, and returns them
// with their name and data; the last entry is the error that ended it.
func readAll(t *testing.T, src io.Reader, in string) [][3]string {
	rd := NewSSEReader(src)
	rest := in
	var out [][3]string
	for range len(in) + 1 {
		ev, err := rd.Next()
		if err != nil {
			return append(out, [3]string{err.Error()})
		}
		i := strings.Index(rest, string(ev.Raw))
		if i < 0 {
			t.Fatalf("raw %q is not in the remaining input %q", ev.Raw, rest)
		}
		rest = rest[i+len(ev.Raw):]
		out = append(out, [3]string{string(ev.Raw), string(ev.Name), string(ev.Data)})
	}
	t.Fatal("more events than input bytes")
	return nil
}

// pieces hands out s in reads of the sizes given, cycled; a size of 255
// means as much as there is room for.
type pieces struct {
	s     string
	sizes []byte
	i     int
}

func (p *pieces) Read(b []byte) (int, error) {
	if p.s == "" {
		return 0, io.EOF
	}
	n := int(p.sizes[p.i%len(p.sizes)])
	p.i++
	if n == 255 || n > len(b) {
		n = len(b)
	}
	n = copy(b[:max(n, 1)], p.s)
	p.s = p.s[n:]
	return n, nil
}

func TestEventReady(t *testing.T) {
	pr, pw := io.Pipe()
	rd := NewSSEReader(pr)
	go func() {
		_, _ = pw.Write([]byte("data: one\n\ndata: two\n\ndata: thr"))
	}()
	if ev, err := rd.Next(); err != nil || string(ev.Data) != "one" {
		t.Fatalf("first: %q %v", ev.Data, err)
	}
	if !rd.EventReady() {
		t.Error("a whole second event is buffered, but EventReady is false")
	}
	if ev, err := rd.Next(); err != nil || string(ev.Data) != "two" {
		t.Fatalf("second: %q %v", ev.Data, err)
	}
	if rd.EventReady() {
		t.Error("only part of the third event is buffered, but EventReady is true")
	}
	go func() {
		_, _ = pw.Write([]byte("ee\n\n"))
		_ = pw.Close()
	}()
	if ev, err := rd.Next(); err != nil || string(ev.Data) != "three" {
		t.Fatalf("third: %q %v", ev.Data, err)
	}
}

// chunked gives its pieces one per Read (each cut to the room the reader
// has), the way a connection hands over what has arrived, and notes the
// room each Read had and whether it was filled.
type chunked struct {
	pieces []string
	rooms  []int
	filled []bool
}

func (c *chunked) Read(p []byte) (int, error) {
	c.rooms = append(c.rooms, len(p))
	if len(c.pieces) == 0 {
		c.filled = append(c.filled, false)
		return 0, io.EOF
	}
	n := copy(p, c.pieces[0])
	if c.pieces[0] = c.pieces[0][n:]; c.pieces[0] == "" {
		c.pieces = c.pieces[1:]
	}
	c.filled = append(c.filled, n == len(p))
	return n, nil
}

// A burst (reads that fill the buffer) is read through the large buffer,
// which goes back before a read that may wait (one after a read that did
// not fill its room); events come out whole and in order whatever the
// buffer they were in.
func TestSSEReaderBurstBuffer(t *testing.T) {
	var burst strings.Builder
	var want []string
	for i := range 200 {
		d := fmt.Sprintf(`{"n":%d,"text":"%s"}`, i, strings.Repeat("w", i%50))
		want = append(want, d)
		burst.WriteString("data: " + d + "\n\n")
	}
	// A burst far larger than the small buffer, then an event and a cut
	// piece on their own (the upstream paused), then the rest.
	src := &chunked{pieces: []string{burst.String(), "data: {\"n\":200}\n\ndata: {\"n\"", ":201}\n\n"}}
	want = append(want, `{"n":200}`, `{"n":201}`)
	rd := NewSSEReader(src)
	for i, w := range want {
		ev, err := rd.Next()
		if err != nil || string(ev.Data) != w {
			t.Fatalf("event %d: %q %v, want %q", i, ev.Data, err, w)
		}
	}
	if _, err := rd.Next(); err != io.EOF {
		t.Fatalf("at the end: %v", err)
	}
	big := 0
	for i, room := range src.rooms {
		if room > sseBuffer {
			big++
			if i == 0 || !src.filled[i-1] {
				t.Errorf("read %d had the large buffer after a read that did not fill its room (rooms %v)", i, src.rooms)
			}
		}
	}
	if big == 0 || big > 3 {
		t.Errorf("a %d-byte burst took %d large reads (rooms %v)", burst.Len(), big, src.rooms)
	}
	rd.Reset(nil, 0)
	if rd.big != nil || rd.small != nil || rd.buf != nil {
		t.Fatal("Reset keeps a borrowed buffer")
	}
}

// waiting is a source whose every Read notes whether the reader then held
// a borrowed buffer, and the room it offered.
type waiting struct {
	rd     *SSEReader
	pieces []string
	rooms  []int
	held   []bool
}

func (s *waiting) Read(p []byte) (int, error) {
	s.rooms = append(s.rooms, len(p))
	s.held = append(s.held, s.rd.small != nil || s.rd.big != nil)
	if len(s.pieces) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.pieces[0])
	if s.pieces[0] = s.pieces[0][n:]; s.pieces[0] == "" {
		s.pieces = s.pieces[1:]
	}
	return n, nil
}

// An open stream mostly waits for its upstream: a read with nothing unread
// before it (one that may wait) goes into the reader's own probe and holds
// no borrowed buffer, whatever the size of the events around it; events
// come out whole either way, copied only when they span reads.
func TestSSEReaderHoldsNoBufferWhileWaiting(t *testing.T) {
	long := `{"text":"` + strings.Repeat("x", 3000) + `"}`
	pieces := []string{
		"data: {\"n\":1}\n\n", // the first read borrows a small buffer
		"data: {\"n\":2}\n\n", // fits the probe
		"data: {\"n\":3,\"pad\":\"" + strings.Repeat("p", 300) + "\"}\n\n", // spans the probe
		"data: " + long + "\n\n", // larger than a small buffer
		"event: ping\ndata: {\"n\":5}\n\n",
	}
	src := &waiting{pieces: append([]string(nil), pieces...)}
	rd := NewSSEReader(src)
	src.rd = rd
	want := []string{`{"n":1}`, `{"n":2}`, `{"n":3,"pad":"` + strings.Repeat("p", 300) + `"}`, long, `{"n":5}`}
	for i, w := range want {
		ev, err := rd.Next()
		if err != nil || string(ev.Data) != w {
			t.Fatalf("event %d: %.40q %v, want %.40q", i, ev.Data, err, w)
		}
		if string(ev.Raw) != pieces[i] {
			t.Fatalf("event %d raw %.40q, want %.40q", i, ev.Raw, pieces[i])
		}
	}
	if ev, _ := rd.Next(); ev.Raw != nil {
		t.Fatalf("an event after the last: %q", ev.Raw)
	}
	waits := 0
	for i, room := range src.rooms {
		if room == probeSize {
			waits++
			if src.held[i] {
				t.Errorf("read %d (into the probe) held a borrowed buffer (rooms %v, held %v)", i, src.rooms, src.held)
			}
		}
	}
	// After each of the five events the next read may wait.
	if waits < len(pieces) {
		t.Errorf("%d reads went into the probe, want at least %d (rooms %v)", waits, len(pieces), src.rooms)
	}
}

// An event that lies whole in the buffer comes out where it lies, not
// copied into the reader's event buffer; reading a stream of small events
// allocates nothing per event.
func TestSSEReaderNoCopy(t *testing.T) {
	var in strings.Builder
	for range 50 {
		in.WriteString("data: {\"choices\":[{\"delta\":{\"content\":\"word\"}}]}\n\n")
	}
	src := strings.NewReader(in.String())
	rd := NewSSEReader(src)
	for {
		ev, err := rd.Next()
		if err != nil {
			break
		}
		in := &rd.buf[:cap(rd.buf)][0]
		at := &ev.Raw[0]
		if uintptr(unsafe.Pointer(at)) < uintptr(unsafe.Pointer(in)) || uintptr(unsafe.Pointer(at)) >= uintptr(unsafe.Pointer(in))+uintptr(cap(rd.buf)) {
			t.Fatalf("event %.30q was copied out of the reader's buffer", ev.Raw)
		}
	}
	allocs := testing.AllocsPerRun(20, func() {
		src.Reset(in.String())
		rd.Reset(src, 0)
		for {
			if _, err := rd.Next(); err != nil {
				break
			}
		}
	})
	if allocs > 0 && !raceEnabled {
		t.Errorf("%.0f allocations per stream of 50 events", allocs)
	}
}
