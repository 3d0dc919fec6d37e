package fakeupstream

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fake is one emulated provider with a raw request builder, for the
// misbehaviour tests, which look at the bytes on the wire.
type fake struct {
	name string
	s    *Server
	key  string
	// request builds a generation request: streamed or not.
	request func(ctx context.Context, stream bool) *http.Request
	// finished reports whether a stream's events include its clean end.
	finished func(events []string) bool
}

func fakes(t *testing.T) []fake {
	oai := NewOpenAI(t, key)
	ant := NewAnthropic(t, antKey)
	gem := NewGemini(t, gemKey)
	post := func(ctx context.Context, url, body string, h ...string) *http.Request {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(h); i += 2 {
			req.Header.Set(h[i], h[i+1])
		}
		return req
	}
	last := func(events []string, substr string) bool {
		return len(events) > 0 && strings.Contains(events[len(events)-1], substr)
	}
	return []fake{
		{
			name: "openai", s: oai, key: key,
			request: func(ctx context.Context, stream bool) *http.Request {
				return post(ctx, oai.URL+"/chat/completions",
					`{"model":"gpt-4o","stream":`+strconv.FormatBool(stream)+`,"messages":[{"role":"user","content":"a b c d e f"}]}`,
					"Authorization", "Bearer "+key)
			},
			finished: func(ev []string) bool { return last(ev, "[DONE]") },
		},
		{
			name: "anthropic", s: ant, key: antKey,
			request: func(ctx context.Context, stream bool) *http.Request {
				return post(ctx, ant.URL+"/v1/messages",
					`{"model":"claude-sonnet-4-5","max_tokens":100,"stream":`+strconv.FormatBool(stream)+`,"messages":[{"role":"user","content":"a b c d e f"}]}`,
					"x-api-key", antKey, "anthropic-version", "2023-06-01")
			},
			finished: func(ev []string) bool { return last(ev, "message_stop") },
		},
		{
			name: "gemini", s: gem, key: gemKey,
			request: func(ctx context.Context, stream bool) *http.Request {
				u := gem.URL + "/v1beta/models/gemini-2.5-flash:generateContent"
				if stream {
					u = gem.URL + "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
				}
				return post(ctx, u, `{"contents":[{"parts":[{"text":"a b c d e f"}]}]}`, "x-goog-api-key", gemKey)
			},
			finished: func(ev []string) bool { return last(ev, "finishReason") },
		},
	}
}

// readEvents reads SSE events (each with its lines, without the blank line
// that ends it) until the body ends or fails.
func readEvents(body io.Reader, each func(ev string)) error {
	br := bufio.NewReader(body)
	var cur strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		if l := strings.TrimRight(line, "\r\n"); l != "" {
			cur.WriteString(l + "\n")
			continue
		}
		if cur.Len() > 0 {
			each(cur.String())
			cur.Reset()
		}
	}
}

// dataOf is the data line of an event.
func dataOf(ev string) string {
	for l := range strings.SplitSeq(ev, "\n") {
		if d, ok := strings.CutPrefix(l, "data: "); ok {
			return d
		}
	}
	return ""
}

// A stalled upstream sends its headers, then nothing: no byte of a JSON
// body, or the first StallAfter events of a stream (never its end), until
// the request is cancelled.
func TestStall(t *testing.T) {
	for _, f := range fakes(t) {
		t.Run(f.name+"/json", func(t *testing.T) {
			f.s.SetBehavior(f.key, Behavior{Stall: true, Times: 1})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			res, err := http.DefaultClient.Do(f.request(ctx, false))
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("headers: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
			}
			time.AfterFunc(150*time.Millisecond, cancel)
			start := time.Now()
			b, err := io.ReadAll(res.Body)
			if err == nil || len(b) != 0 || time.Since(start) < 100*time.Millisecond {
				t.Errorf("body: %d bytes, %v after %s; want nothing until cancelled", len(b), err, time.Since(start))
			}
		})
		t.Run(f.name+"/stream", func(t *testing.T) {
			f.s.SetBehavior(f.key, Behavior{Stall: true, StallAfter: 2, Times: 1})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			res, err := http.DefaultClient.Do(f.request(ctx, true))
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var events []string
			var at time.Time
			time.AfterFunc(200*time.Millisecond, cancel)
			err = readEvents(res.Body, func(ev string) { events, at = append(events, ev), time.Now() })
			if err == nil || errors.Is(err, io.EOF) || len(events) != 2 || time.Since(at) < 100*time.Millisecond {
				t.Errorf("%d events, then %v after %s; want 2, then silence until cancelled", len(events), err, time.Since(at))
			}
			// Fewer events than StallAfter: stalled before the end.
			f.s.SetBehavior(f.key, Behavior{Stall: true, StallAfter: 1000, Times: 1})
			ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			res, err = http.DefaultClient.Do(f.request(ctx, true))
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			events = nil
			_ = readEvents(res.Body, func(ev string) { events = append(events, ev) })
			if len(events) == 0 || f.finished(events) {
				t.Errorf("short stall: %d events, finished %v", len(events), f.finished(events))
			}
		})
		// The behaviour was for one request each: the next is served.
		res, err := http.DefaultClient.Do(f.request(context.Background(), false))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !json.Valid(b) {
			t.Errorf("%s after the stall: %d %s", f.name, res.StatusCode, b)
		}
	}
}

// A slow upstream pauses between stream events, and between the headers and
// the body of a JSON answer.
func TestPause(t *testing.T) {
	const pause = 25 * time.Millisecond
	for _, f := range fakes(t) {
		t.Run(f.name, func(t *testing.T) {
			f.s.SetBehavior(f.key, Behavior{Pause: pause})
			start := time.Now()
			res, err := http.DefaultClient.Do(f.request(context.Background(), false))
			if err != nil {
				t.Fatal(err)
			}
			headers := time.Since(start)
			b, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err != nil || !json.Valid(b) || time.Since(start)-headers < pause-5*time.Millisecond {
				t.Errorf("json: %v, valid %v, body %s after the headers", err, json.Valid(b), time.Since(start)-headers)
			}

			res, err = http.DefaultClient.Do(f.request(context.Background(), true))
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var events []string
			var gaps []time.Duration
			prev := time.Now()
			_ = readEvents(res.Body, func(ev string) {
				events = append(events, ev)
				gaps = append(gaps, time.Since(prev))
				prev = time.Now()
			})
			if len(events) < 3 || !f.finished(events) {
				t.Fatalf("slow stream: %d events, finished %v", len(events), f.finished(events))
			}
			for i, g := range gaps[1:] {
				if g < pause-5*time.Millisecond {
					t.Errorf("gap before event %d: %s, want >= %s", i+2, g, pause)
				}
			}
		})
	}
}

// A corrupt event is one data line that is not JSON, in the middle of an
// otherwise complete stream.
func TestCorruptAfter(t *testing.T) {
	for _, f := range fakes(t) {
		t.Run(f.name, func(t *testing.T) {
			f.s.SetBehavior(f.key, Behavior{CorruptAfter: 2})
			res, err := http.DefaultClient.Do(f.request(context.Background(), true))
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var events []string
			_ = readEvents(res.Body, func(ev string) { events = append(events, ev) })
			var bad []int
			for i, ev := range events {
				if d := dataOf(ev); d != "[DONE]" && !json.Valid([]byte(d)) {
					bad = append(bad, i)
				}
			}
			if len(bad) != 1 || bad[0] != 2 || !f.finished(events) {
				t.Errorf("invalid events at %v (want [2]), finished %v:\n%s", bad, f.finished(events), strings.Join(events, "\n"))
			}
		})
	}
}

// Invalid and truncated JSON answers are complete HTTP responses with
// status 200: nothing but the body tells.
func TestInvalidAndTruncatedJSON(t *testing.T) {
	for _, f := range fakes(t) {
		t.Run(f.name, func(t *testing.T) {
			get := func(b Behavior) (*http.Response, []byte) {
				f.s.SetBehavior(f.key, b)
				res, err := http.DefaultClient.Do(f.request(context.Background(), false))
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				body, err := io.ReadAll(res.Body)
				if err != nil {
					t.Fatalf("%+v: reading the body: %v", b, err)
				}
				return res, body
			}
			_, good := get(Behavior{})
			for _, b := range []Behavior{{InvalidJSON: true}, {Truncate: true}} {
				res, body := get(b)
				if res.StatusCode != 200 || res.ContentLength != int64(len(body)) || json.Valid(body) {
					t.Errorf("%+v: %d, length %d of %d, valid %v: %s", b, res.StatusCode, len(body), res.ContentLength, json.Valid(body), body)
				}
				// (Ids and times differ from answer to answer, lengths not.)
				if b.Truncate && (len(body) != len(good)/2 || !bytes.HasPrefix(good, body[:8])) {
					t.Errorf("truncated: %d bytes of %d: %s", len(body), len(good), body)
				}
			}
		})
	}
}

// Pad makes a JSON answer, or a stream's first event, larger than Pad
// bytes, and still valid.
func TestPad(t *testing.T) {
	const size = 1 << 20
	for _, f := range fakes(t) {
		t.Run(f.name, func(t *testing.T) {
			f.s.SetBehavior(f.key, Behavior{Pad: size})
			res, err := http.DefaultClient.Do(f.request(context.Background(), false))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if len(body) <= size || len(body) > size+4096 || !json.Valid(body) {
				t.Errorf("json: %d bytes, valid %v", len(body), json.Valid(body))
			}

			res, err = http.DefaultClient.Do(f.request(context.Background(), true))
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var sizes []int
			valid := true
			_ = readEvents(res.Body, func(ev string) {
				sizes = append(sizes, len(ev))
				if d := dataOf(ev); d != "[DONE]" && !json.Valid([]byte(d)) {
					valid = false
				}
			})
			if len(sizes) < 2 || sizes[0] <= size || sizes[1] > 4096 || !valid {
				t.Errorf("stream: event sizes %v, all valid %v", sizes, valid)
			}
		})
	}
}
