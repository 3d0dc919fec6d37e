package translate

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
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
// the input, in order.
func FuzzSSEReader(f *testing.F) {
	for _, s := range []string{
		"data: {\"a\":1}\n\n", "event: x\ndata: y\n\n", "data: a\ndata: b\n\n",
		"data: [DONE]\n\n", "\n\n\n", "data", ":\n\n", "data: x\r\n\r\n", "data: cut",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		rd := NewSSEReader(strings.NewReader(in))
		rest := in
		for range len(in) + 1 {
			ev, err := rd.Next()
			if err != nil {
				return
			}
			i := strings.Index(rest, string(ev.Raw))
			if i < 0 {
				t.Fatalf("raw %q is not in the remaining input %q", ev.Raw, rest)
			}
			rest = rest[i+len(ev.Raw):]
		}
		t.Fatal("more events than input bytes")
	})
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
	if rd.big != nil || len(rd.buf) != sseBuffer {
		t.Fatal("Reset keeps the large buffer")
	}
}
