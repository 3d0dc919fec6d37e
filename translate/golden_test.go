package translate_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	openairesponses "github.com/openai/openai-go/v3/responses"
	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
	"github.com/llmproxy/caddy-llm-proxy/translate/anthropic"
	"github.com/llmproxy/caddy-llm-proxy/translate/chat"
	"github.com/llmproxy/caddy-llm-proxy/translate/gemini"
	"github.com/llmproxy/caddy-llm-proxy/translate/internal/respcheck"
	"github.com/llmproxy/caddy-llm-proxy/translate/responses"
)

// The golden harness: every recorded provider stream, decoded by its
// provider's stream decoder and encoded by every inbound API's stream
// encoder, must give exactly the bytes in testdata/golden. Run
// `go test ./translate -run TestGoldenStreams -update` to rewrite them (then
// read the diff). Besides the byte comparison, every output is checked
// against its API's streaming rules and for carrying the same text,
// reasoning and tool calls as the provider stream.

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

var goldenProviders = []struct {
	name string
	dec  func() translate.StreamDecoder
}{
	{"openai", chat.NewStreamDecoder},
	{"anthropic", anthropic.NewStreamDecoder},
	{"gemini", gemini.NewStreamDecoder},
	{"responses", responses.NewStreamDecoder},
}

var goldenInbound = []struct {
	name    string
	enc     func(translate.StreamOptions) translate.StreamEncoder
	extract func(t *testing.T, out []byte) goldenContent
}{
	{"chat", chat.NewStreamEncoder, goldenChat},
	{"responses", responses.NewStreamEncoder, goldenResponses},
	// Codex's view: the recorded tool is one of its custom tools (in its
	// "functions" namespace), so calls come back as custom_tool_call items
	// whose input is the arguments' text.
	{"responses-codex", codexEncoder, goldenResponses},
	{"anthropic", anthropic.NewStreamEncoder, goldenAnthropic},
	{"gemini", gemini.NewStreamEncoder, goldenGemini},
}

var goldenScenarios = []string{"text", "tool", "reasoning"}

// codexEncoder is a Responses stream encoder for a Codex client that
// declared get_weather as a custom tool of its "functions" namespace.
func codexEncoder(o translate.StreamOptions) translate.StreamEncoder {
	r := &translate.Request{Tools: []translate.Tool{{Name: "get_weather", Namespace: "functions", Kind: translate.ToolCustom}}}
	translate.NameTools(r)
	return translate.NewClientTools(r).Wrap(responses.NewStreamEncoder(o))
}

// goldenContent is what a stream says, whatever its format.
type goldenContent struct {
	Text, Thinking string
	Tools          []goldenTool
	Usage          translate.Usage
}

type goldenTool struct {
	Name string
	Args any // parsed JSON
}

func TestGoldenStreams(t *testing.T) {
	old := translate.Now
	translate.Now = func() time.Time { return time.Unix(1767225600, 0) }
	t.Cleanup(func() { translate.Now = old })
	opts := translate.StreamOptions{Model: "client-model", IncludeUsage: true}

	for _, p := range goldenProviders {
		for _, sc := range goldenScenarios {
			in, err := os.ReadFile(filepath.Join("testdata", "streams", p.name, sc+".sse"))
			if err != nil {
				t.Errorf("recording missing: %v", err)
				continue
			}
			events := goldenDecode(t, p.name+"/"+sc, p.dec(), in)
			want := goldenCanonical(t, events)
			for _, ib := range goldenInbound {
				name := p.name + "_" + sc + "_to_" + ib.name
				t.Run(name, func(t *testing.T) {
					enc := ib.enc(opts)
					var out []byte
					for i := range events {
						ev := events[i] // encoders get their own copy
						out = enc.Encode(out, &ev)
					}
					path := filepath.Join("testdata", "golden", name+".sse")
					if *update {
						if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
							t.Fatal(err)
						}
						if err := os.WriteFile(path, out, 0o644); err != nil {
							t.Fatal(err)
						}
					} else {
						golden, err := os.ReadFile(path)
						if err != nil {
							t.Fatalf("%v (run with -update to create it)", err)
						}
						if !bytes.Equal(out, golden) {
							t.Errorf("output differs from %s (run with -update, then review the diff):\n%s", path, goldenDiff(golden, out))
						}
					}
					got := ib.extract(t, out)
					goldenCompare(t, got, want)
				})
			}
		}
	}
}

// goldenDecode runs a recording through a provider decoder and checks the
// canonical event order contract.
func goldenDecode(t *testing.T, name string, dec translate.StreamDecoder, in []byte) []translate.StreamEvent {
	t.Helper()
	rd := translate.NewSSEReader(bytes.NewReader(in))
	var events []translate.StreamEvent
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		events, err = dec.Decode(events, ev)
		if err != nil {
			t.Fatalf("%s: decode: %v", name, err)
		}
	}
	if !dec.Finished() {
		t.Errorf("%s: decoder not finished at the end of the recording", name)
	}
	if len(events) == 0 || events[0].Type != translate.EvStart {
		t.Errorf("%s: first canonical event is not EvStart", name)
	}
	for i, ev := range events {
		if (ev.Type == translate.EvFinish || ev.Type == translate.EvError) != (i == len(events)-1) {
			t.Errorf("%s: finish/error at %d of %d", name, i, len(events))
		}
	}
	return events
}

// goldenCanonical is the content of the canonical events.
func goldenCanonical(t *testing.T, events []translate.StreamEvent) goldenContent {
	var c goldenContent
	args := map[int]*strings.Builder{}
	var order []int
	names := map[int]string{}
	for _, ev := range events {
		switch ev.Type {
		case translate.EvText:
			c.Text += ev.Text
		case translate.EvThinking:
			c.Thinking += ev.Text
		case translate.EvToolStart:
			if _, ok := args[ev.Index]; !ok {
				args[ev.Index] = &strings.Builder{}
				order = append(order, ev.Index)
				names[ev.Index] = ev.ToolName
			}
		case translate.EvToolArgs:
			if b := args[ev.Index]; b != nil {
				b.WriteString(ev.Args)
			}
		case translate.EvUsage:
			c.Usage.Merge(ev.Usage)
		}
	}
	for _, i := range order {
		c.Tools = append(c.Tools, goldenTool{names[i], goldenJSON(t, args[i].String())})
	}
	return c
}

func goldenJSON(t *testing.T, s string) any {
	t.Helper()
	if s == "" {
		s = "{}"
	}
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Errorf("tool arguments %q do not parse: %v", s, err)
	}
	return v
}

func goldenCompare(t *testing.T, got, want goldenContent) {
	t.Helper()
	if got.Text != want.Text {
		t.Errorf("text %q, want %q", got.Text, want.Text)
	}
	if got.Thinking != want.Thinking {
		t.Errorf("reasoning %q, want %q", got.Thinking, want.Thinking)
	}
	if !reflect.DeepEqual(got.Tools, want.Tools) {
		t.Errorf("tool calls %+v, want %+v", got.Tools, want.Tools)
	}
	if got.Usage.Input != want.Usage.Input || got.Usage.Output != want.Usage.Output {
		t.Errorf("usage %+v, want %+v", got.Usage, want.Usage)
	}
}

// goldenDiff shows the first differing line.
func goldenDiff(want, got []byte) string {
	wl, gl := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d:\n- %s\n+ %s", i+1, w, g)
		}
	}
	return "(same lines)"
}

// goldenEvents splits a stream into SSE events.
func goldenEvents(t *testing.T, out []byte) []translate.Event {
	t.Helper()
	rd := translate.NewSSEReader(bytes.NewReader(out))
	var evs []translate.Event
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			return evs
		}
		if err != nil {
			t.Fatalf("framing: %v", err)
		}
		evs = append(evs, translate.Event{Raw: bytes.Clone(ev.Raw), Name: bytes.Clone(ev.Name), Data: bytes.Clone(ev.Data)})
	}
}

// goldenChat checks an OpenAI Chat Completions stream and reads it back
// with openai-go's accumulator.
func goldenChat(t *testing.T, out []byte) goldenContent {
	var c goldenContent
	evs := goldenEvents(t, out)
	if len(evs) < 3 || string(evs[len(evs)-1].Data) != "[DONE]" {
		t.Fatalf("chat stream does not end with [DONE]")
	}
	var acc openai.ChatCompletionAccumulator
	finishes := 0
	var id string
	for i, ev := range evs[:len(evs)-1] {
		if len(ev.Name) != 0 {
			t.Errorf("chat event with an event name: %s", ev.Raw)
		}
		if !json.Valid(ev.Data) {
			t.Fatalf("invalid JSON: %s", ev.Data)
		}
		d := gjson.ParseBytes(ev.Data)
		if d.Get("object").Str != "chat.completion.chunk" || d.Get("model").Str == "" || d.Get("created").Int() == 0 {
			t.Errorf("chunk header: %s", ev.Data)
		}
		if id == "" {
			id = d.Get("id").Str
		} else if d.Get("id").Str != id {
			t.Errorf("chunk id changes: %s", ev.Data)
		}
		if i == 0 && d.Get("choices.0.delta.role").Str != "assistant" {
			t.Errorf("first chunk has no assistant role: %s", ev.Data)
		}
		if d.Get("choices.0.finish_reason").Type == gjson.String {
			finishes++
		}
		if u := d.Get("usage"); u.IsObject() {
			if i != len(evs)-2 || d.Get("choices").Raw != "[]" {
				t.Errorf("usage chunk not last or with choices: %s", ev.Data)
			}
			c.Usage = translate.Usage{Input: u.Get("prompt_tokens").Int(), Output: u.Get("completion_tokens").Int()}
		}
		c.Thinking += d.Get("choices.0.delta.reasoning_content").Str
		var chunk openai.ChatCompletionChunk
		if err := json.Unmarshal(ev.Data, &chunk); err != nil {
			t.Fatalf("openai-go: %v", err)
		}
		if !acc.AddChunk(chunk) {
			t.Fatalf("openai-go accumulator refused %s", ev.Data)
		}
	}
	if finishes != 1 {
		t.Errorf("%d chunks with a finish_reason", finishes)
	}
	if len(acc.Choices) != 1 {
		t.Fatalf("%d choices", len(acc.Choices))
	}
	m := acc.Choices[0].Message
	c.Text = m.Content
	for _, tc := range m.ToolCalls {
		if tc.ID == "" {
			t.Errorf("tool call without id")
		}
		c.Tools = append(c.Tools, goldenTool{tc.Function.Name, goldenJSON(t, tc.Function.Arguments)})
	}
	return c
}

// goldenResponses checks a Responses stream (see respcheck.Framing) and reads
// every event with openai-go's types.
func goldenResponses(t *testing.T, out []byte) goldenContent {
	var c goldenContent
	events := respcheck.Framing(t, out, true)
	names := map[string]string{}
	args := map[string]string{}
	var ids []string
	for _, d := range events {
		var ev openairesponses.ResponseStreamEventUnion
		if err := json.Unmarshal([]byte(d.Raw), &ev); err != nil {
			t.Fatalf("openai-go: %v", err)
		}
		switch ev.Type {
		case "response.output_text.delta":
			c.Text += ev.Delta
		case "response.reasoning_summary_text.delta":
			c.Thinking += ev.Delta
		case "response.output_item.added":
			if it := ev.AsResponseOutputItemAdded().Item; it.Type == "function_call" || it.Type == "custom_tool_call" {
				names[it.ID] = it.Name
				ids = append(ids, it.ID)
			}
		case "response.function_call_arguments.delta", "response.custom_tool_call_input.delta":
			args[ev.ItemID] += ev.Delta
		case "response.completed", "response.incomplete":
			r := ev.Response
			if r.Model != "client-model" {
				t.Errorf("response model %q", r.Model)
			}
			if r.OutputText() != c.Text {
				t.Errorf("final output text %q, streamed %q", r.OutputText(), c.Text)
			}
			c.Usage = translate.Usage{Input: r.Usage.InputTokens, Output: r.Usage.OutputTokens}
		}
	}
	for _, id := range ids {
		c.Tools = append(c.Tools, goldenTool{names[id], goldenJSON(t, args[id])})
	}
	return c
}

// goldenAnthropic checks an Anthropic Messages stream.
func goldenAnthropic(t *testing.T, out []byte) goldenContent {
	var c goldenContent
	evs := goldenEvents(t, out)
	open := -1
	next := 0
	var blockType string
	var blockBytes int
	var toolName, toolArgs string
	sawDelta := false
	for i, ev := range evs {
		if !json.Valid(ev.Data) {
			t.Fatalf("invalid JSON: %s", ev.Data)
		}
		d := gjson.ParseBytes(ev.Data)
		typ := d.Get("type").Str
		if typ != string(ev.Name) {
			t.Errorf("event name %q, type %q", ev.Name, typ)
		}
		switch {
		case i == 0 && typ != "message_start":
			t.Fatalf("first event is %s", typ)
		case i == len(evs)-1 && typ != "message_stop" && typ != "error":
			t.Errorf("last event is %s", typ)
		}
		switch typ {
		case "message_start":
			m := d.Get("message")
			if m.Get("model").Str != "client-model" || m.Get("role").Str != "assistant" || m.Get("content").Raw != "[]" || !strings.HasPrefix(m.Get("id").Str, "msg_") {
				t.Errorf("message_start: %s", ev.Data)
			}
			c.Usage.Input = m.Get("usage.input_tokens").Int() + m.Get("usage.cache_read_input_tokens").Int() + m.Get("usage.cache_creation_input_tokens").Int()
		case "content_block_start":
			if open >= 0 {
				t.Errorf("block %d starts while %d is open", d.Get("index").Int(), open)
			}
			if int(d.Get("index").Int()) != next {
				t.Errorf("block index %d, want %d", d.Get("index").Int(), next)
			}
			open = next
			next++
			blockType = d.Get("content_block.type").Str
			blockBytes = 0
			if blockType == "tool_use" {
				toolName, toolArgs = d.Get("content_block.name").Str, ""
				if !strings.HasPrefix(d.Get("content_block.id").Str, "toolu_") && d.Get("content_block.id").Str == "" {
					t.Errorf("tool_use without id: %s", ev.Data)
				}
			}
		case "content_block_delta":
			if int(d.Get("index").Int()) != open {
				t.Errorf("delta for block %d, open %d", d.Get("index").Int(), open)
			}
			dl := d.Get("delta")
			switch dl.Get("type").Str {
			case "text_delta":
				c.Text += dl.Get("text").Str
				blockBytes += len(dl.Get("text").Str)
			case "thinking_delta":
				c.Thinking += dl.Get("thinking").Str
				blockBytes += len(dl.Get("thinking").Str)
			case "signature_delta":
				blockBytes++
			case "input_json_delta":
				toolArgs += dl.Get("partial_json").Str
				blockBytes++
			default:
				t.Errorf("delta type %s", dl.Get("type").Str)
			}
		case "content_block_stop":
			if int(d.Get("index").Int()) != open {
				t.Errorf("stop for block %d, open %d", d.Get("index").Int(), open)
			}
			if blockType != "tool_use" && blockType != "redacted_thinking" && blockBytes == 0 {
				t.Errorf("empty %s block", blockType)
			}
			if blockType == "tool_use" {
				c.Tools = append(c.Tools, goldenTool{toolName, goldenJSON(t, toolArgs)})
			}
			open = -1
		case "message_delta":
			if open >= 0 {
				t.Errorf("message_delta with block %d open", open)
			}
			sawDelta = true
			if d.Get("delta.stop_reason").Str == "" {
				t.Errorf("message_delta without stop_reason: %s", ev.Data)
			}
			if !d.Get("usage.output_tokens").Exists() {
				t.Errorf("message_delta without usage.output_tokens: %s", ev.Data)
			}
			c.Usage.Output = d.Get("usage.output_tokens").Int()
			if in := d.Get("usage.input_tokens"); in.Exists() {
				c.Usage.Input = in.Int() + d.Get("usage.cache_read_input_tokens").Int() + d.Get("usage.cache_creation_input_tokens").Int()
			}
		case "message_stop", "ping", "error":
		default:
			t.Errorf("unknown event %s", typ)
		}
	}
	if !sawDelta {
		t.Errorf("no message_delta")
	}
	return c
}

// goldenGemini checks a Gemini streamGenerateContent (alt=sse) stream.
func goldenGemini(t *testing.T, out []byte) goldenContent {
	var c goldenContent
	evs := goldenEvents(t, out)
	if len(evs) == 0 {
		t.Fatal("no chunks")
	}
	for i, ev := range evs {
		if len(ev.Name) != 0 {
			t.Errorf("gemini chunk with an event name: %s", ev.Raw)
		}
		if !json.Valid(ev.Data) {
			t.Fatalf("invalid JSON: %s", ev.Data)
		}
		d := gjson.ParseBytes(ev.Data)
		cand := d.Get("candidates.0")
		if !cand.Exists() {
			t.Errorf("chunk without a candidate: %s", ev.Data)
		}
		if d.Get("modelVersion").Str != "client-model" {
			t.Errorf("modelVersion: %s", ev.Data)
		}
		cand.Get("content.parts").ForEach(func(_, p gjson.Result) bool {
			switch {
			case p.Get("functionCall").Exists():
				a := p.Get("functionCall.args")
				if !a.IsObject() {
					t.Errorf("functionCall args not an object: %s", p.Raw)
				}
				c.Tools = append(c.Tools, goldenTool{p.Get("functionCall.name").Str, goldenJSON(t, a.Raw)})
			case p.Get("text").Exists():
				// Real Gemini streams end with {"text":""} beside the
				// finishReason when the text went out before; nowhere else.
				if p.Get("text").Str == "" && !p.Get("thoughtSignature").Exists() &&
					(i != len(evs)-1 || len(cand.Get("content.parts").Array()) != 1) {
					t.Errorf("empty text part: %s", p.Raw)
				}
				if p.Get("thought").Bool() {
					c.Thinking += p.Get("text").Str
				} else {
					c.Text += p.Get("text").Str
				}
			case p.Get("thoughtSignature").Exists():
			default:
				t.Errorf("unknown part %s", p.Raw)
			}
			return true
		})
		last := i == len(evs)-1
		if fr := cand.Get("finishReason"); fr.Exists() != last {
			t.Errorf("finishReason on chunk %d of %d: %s", i, len(evs), ev.Data)
		}
		if u := d.Get("usageMetadata"); u.Exists() {
			c.Usage = translate.Usage{Input: u.Get("promptTokenCount").Int(), Output: u.Get("candidatesTokenCount").Int() + u.Get("thoughtsTokenCount").Int()}
		} else if last {
			t.Errorf("last chunk without usageMetadata")
		}
	}
	return c
}

// Every inbound encoder ends a failed stream with its API's own error event
// and nothing after it (no [DONE], no clean end).
func TestEncodersErrorEnd(t *testing.T) {
	old := translate.Now
	translate.Now = func() time.Time { return time.Unix(1767225600, 0) }
	t.Cleanup(func() { translate.Now = old })
	for _, ib := range goldenInbound {
		for _, start := range []bool{true, false} {
			var evs []translate.StreamEvent
			if start {
				evs = append(evs, translate.StreamEvent{Type: translate.EvStart, ID: "x1", Model: "up"})
			}
			evs = append(evs,
				translate.StreamEvent{Type: translate.EvText, Text: "partial"},
				translate.StreamEvent{Type: translate.EvToolStart, Index: 0, ToolCallID: "call_1", ToolName: "f"},
				translate.StreamEvent{Type: translate.EvToolArgs, Index: 0, Args: `{"a":`},
				translate.StreamEvent{Type: translate.EvError, Text: "upstream reset", Status: 502},
				translate.StreamEvent{Type: translate.EvText, Text: "late"},
				translate.StreamEvent{Type: translate.EvFinish, StopReason: translate.StopEnd},
			)
			enc := ib.enc(translate.StreamOptions{Model: "client-model", IncludeUsage: true})
			var out []byte
			for i := range evs {
				out = enc.Encode(out, &evs[i])
			}
			all := goldenEvents(t, out)
			if len(all) == 0 {
				t.Errorf("%s: no output", ib.name)
				continue
			}
			last := all[len(all)-1]
			d := gjson.ParseBytes(last.Data)
			ok := false
			switch ib.name {
			case "chat":
				ok = d.Get("error.message").Str == "upstream reset"
			case "responses", "responses-codex":
				ok = d.Get("type").Str == "response.failed" && d.Get("response.error.message").Str == "upstream reset"
			case "anthropic":
				ok = string(last.Name) == "error" && d.Get("error.message").Str == "upstream reset"
			case "gemini":
				ok = d.Get("error.message").Str == "upstream reset"
			}
			if !ok {
				t.Errorf("%s (start %v): last event is not the error:\n%s", ib.name, start, out)
			}
			if bytes.Contains(out, []byte("late")) || bytes.Contains(out, []byte("[DONE]")) || bytes.Contains(out, []byte("message_stop")) ||
				bytes.Contains(out, []byte("response.completed")) || bytes.Contains(out, []byte(`"finishReason"`)) {
				t.Errorf("%s (start %v): clean end or content after the error:\n%s", ib.name, start, out)
			}
			if ib.name == "anthropic" && start && !bytes.HasPrefix(out, []byte("event: message_start")) {
				t.Errorf("anthropic: stream does not open with message_start:\n%s", out)
			}
		}
	}
}
