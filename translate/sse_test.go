package translate

import (
	"errors"
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
