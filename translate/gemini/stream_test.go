package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
	"google.golang.org/genai"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

func TestStreamDecoderRecorded(t *testing.T) {
	toolID := translate.MakeToolCallID("call_", "4xAqaZL1Dqe41e8Pw8ebgQk", 0)
	sigTool := gjson.GetBytes(bytes.TrimPrefix(bytes.SplitN(recorded(t, "tool.sse"), []byte("\r\n"), 2)[0], []byte("data: ")), "candidates.0.content.parts.0.thoughtSignature").String()
	sigReason := ""
	for _, line := range bytes.Split(recorded(t, "reasoning.sse"), []byte("\r\n")) {
		if s := gjson.GetBytes(bytes.TrimPrefix(line, []byte("data: ")), "candidates.0.content.parts.0.thoughtSignature").String(); s != "" {
			sigReason = s
		}
	}
	if sigTool == "" || sigReason == "" {
		t.Fatal("recordings lost their signatures")
	}
	tests := map[string][]translate.StreamEvent{
		"text.sse": {
			{Type: translate.EvStart, ID: "zQkqacWcLp6m1e8PyJnX0AQ", Model: "gemini-2.5-flash"},
			{Type: translate.EvText, Text: "The"},
			{Type: translate.EvText, Text: " capital of France is **Paris**. It sits on the Seine in the north of the country"},
			{Type: translate.EvText, Text: " and has been the nation's political and cultural centre for centuries, home to landmarks such as"},
			{Type: translate.EvText, Text: " the Eiffel Tower, the Louvre and Notre-Dame.\n"},
			{Type: translate.EvUsage, Usage: translate.Usage{Input: 9, Output: 462, Reasoning: 412}},
			{Type: translate.EvFinish, StopReason: translate.StopEnd},
		},
		"tool.sse": {
			{Type: translate.EvStart, ID: "4xAqaZL1Dqe41e8Pw8ebgQk", Model: "gemini-2.5-flash"},
			{Type: translate.EvSignature, Text: sigTool, SignatureFormat: Name},
			{Type: translate.EvText, Text: "I'll look up the current weather in Paris for you."},
			{Type: translate.EvToolStart, Index: 0, ToolCallID: toolID, ToolName: "get_weather"},
			{Type: translate.EvToolArgs, Index: 0, Args: `{"city": "Paris","unit": "celsius"}`},
			{Type: translate.EvUsage, Usage: translate.Usage{Input: 74, Output: 127, Reasoning: 96}},
			{Type: translate.EvFinish, StopReason: translate.StopToolUse},
		},
		"reasoning.sse": {
			{Type: translate.EvStart, ID: "Ty0qaYTtC5_Yz7IPv7KzsQ4", Model: "gemini-2.5-flash"},
			{Type: translate.EvThinking, Text: "**Calculating the product**\n\nI'm multiplying 17 by 23. Breaking it down: 17 times 20 is 340 and 17 times 3 is 51.\n\n\n"},
			{Type: translate.EvThinking, Text: "**Confirming the sum**\n\nAdding 340 and 51 gives 391. A quick check with 23 times 17 agrees, so the answer is 391.\n\n\n"},
			{Type: translate.EvSignature, Text: sigReason, SignatureFormat: Name},
			{Type: translate.EvText, Text: "17 × 23 = **391**."},
			{Type: translate.EvText, Text: "\n\n(17 × 20 = 340, 17 × 3 = 51, and 340 + 51 = 391.)"},
			{Type: translate.EvUsage, Usage: translate.Usage{Input: 21, Output: 285, Reasoning: 247}},
			{Type: translate.EvFinish, StopReason: translate.StopEnd},
		},
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			raw := recorded(t, name)
			if !bytes.Contains(raw, []byte("}\r\n\r\ndata: {")) || !bytes.HasSuffix(raw, []byte("}\r\n\r\n")) {
				t.Fatal("recording is not framed like Gemini (CRLF)")
			}
			got, dec := readStream(t, raw)
			if !dec.Finished() {
				t.Error("not finished")
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got  %s\nwant %s", jsonOf(t, got), jsonOf(t, want))
			}
		})
	}
}

func TestStreamDecoderEdges(t *testing.T) {
	decode := func(chunks ...string) ([]translate.StreamEvent, translate.StreamDecoder) {
		var raw bytes.Buffer
		for _, c := range chunks {
			raw.WriteString("data: " + c + "\r\n\r\n")
		}
		return readStream(t, raw.Bytes())
	}
	// An error chunk ends the stream.
	evs, dec := decode(`{"candidates":[{"content":{"parts":[{"text":"Hi"}],"role":"model"},"index":0}],"responseId":"a"}`,
		`{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}`,
		`{"candidates":[{"content":{"parts":[{"text":"ignored"}],"role":"model"},"index":0}]}`)
	want := []translate.StreamEvent{{Type: translate.EvStart, ID: "a"}, {Type: translate.EvText, Text: "Hi"}, {Type: translate.EvError, Text: "The model is overloaded. Please try again later.", Status: 503}}
	if !reflect.DeepEqual(evs, want) || !dec.Finished() {
		t.Errorf("error: %s", jsonOf(t, evs))
	}
	// A blocked prompt: no candidates.
	evs, dec = decode(`{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":8,"totalTokenCount":8},"modelVersion":"gemini-2.5-flash","responseId":"b"}`)
	want = []translate.StreamEvent{{Type: translate.EvStart, ID: "b", Model: "gemini-2.5-flash"}, {Type: translate.EvUsage, Usage: translate.Usage{Input: 8}}, {Type: translate.EvFinish, StopReason: translate.StopContentFilter}}
	if !reflect.DeepEqual(evs, want) || !dec.Finished() {
		t.Errorf("blocked: %s", jsonOf(t, evs))
	}
	// A cut stream is not finished; parallel calls are numbered.
	evs, dec = decode(`{"candidates":[{"content":{"parts":[{"functionCall":{"name":"a","args":{"x":1}}},{"functionCall":{"id":"id-b","name":"b"}}],"role":"model"},"index":0}],"responseId":"c"}`)
	if dec.Finished() || len(evs) != 5 || evs[3].Index != 1 || evs[3].ToolCallID != "id-b" || evs[4].Args != "{}" || evs[1].ToolCallID != translate.MakeToolCallID("call_", "c", 0) {
		t.Errorf("parallel: finished=%v %s", dec.Finished(), jsonOf(t, evs))
	}
	// MAX_TOKENS after a call stays MAX_TOKENS; a thought part's own signature follows its text.
	evs, _ = decode(`{"candidates":[{"content":{"parts":[{"text":"t","thought":true,"thoughtSignature":"` + sigA + `"},{"functionCall":{"name":"a"}}],"role":"model"},"finishReason":"MAX_TOKENS","index":0}]}`)
	if len(evs) != 6 || evs[1].Type != translate.EvThinking || evs[2].Type != translate.EvSignature || evs[5].StopReason != translate.StopMaxTokens {
		t.Errorf("max tokens: %s", jsonOf(t, evs))
	}
	// Garbage is an error, not a panic.
	if _, err := NewStreamDecoder().Decode(nil, translate.Event{Data: []byte("{oops")}); err == nil {
		t.Error("want an error for invalid JSON")
	}
}

func TestStreamEncoderFraming(t *testing.T) {
	enc := NewStreamEncoder(translate.StreamOptions{Model: "gemini-pro-alias"})
	var out []byte
	for _, ev := range []translate.StreamEvent{
		{Type: translate.EvStart, ID: "r1", Model: "upstream-model"},
		{Type: translate.EvThinking, Text: "hmm"},
		{Type: translate.EvSignature, Text: sigA},
		{Type: translate.EvText, Text: "Hi\nthere"},
		{Type: translate.EvToolStart, Index: 0, ToolCallID: "call_1", ToolName: "f"},
		{Type: translate.EvToolArgs, Index: 0, Args: "{\"a\":\n"},
		{Type: translate.EvToolArgs, Index: 0, Args: " 1}"},
		{Type: translate.EvToolStart, Index: 1, ToolCallID: "call_2", ToolName: "g"},
		{Type: translate.EvUsage, Usage: translate.Usage{Input: 3, Output: 9, Reasoning: 2}},
		{Type: translate.EvFinish, StopReason: translate.StopToolUse},
		{Type: translate.EvText, Text: "after the end"},
	} {
		out = enc.Encode(out, &ev)
	}
	want := "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"hmm\",\"thought\":true}],\"role\":\"model\"},\"index\":0}],\"modelVersion\":\"gemini-pro-alias\",\"responseId\":\"r1\"}\r\n\r\n" +
		"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\\nthere\",\"thoughtSignature\":\"" + wrapSignature("", sigA, "hmm") + "\"}],\"role\":\"model\"},\"index\":0}],\"modelVersion\":\"gemini-pro-alias\",\"responseId\":\"r1\"}\r\n\r\n" +
		"data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"id\":\"call_1\",\"name\":\"f\",\"args\":{\"a\":1}}},{\"functionCall\":{\"id\":\"call_2\",\"name\":\"g\",\"args\":{}}}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":3,\"candidatesTokenCount\":7,\"totalTokenCount\":12,\"thoughtsTokenCount\":2},\"modelVersion\":\"gemini-pro-alias\",\"responseId\":\"r1\"}\r\n\r\n"
	if string(out) != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}

	// No EvStart, an error mid-stream: the error chunk is last.
	enc = NewStreamEncoder(translate.StreamOptions{})
	out = enc.Encode(nil, &translate.StreamEvent{Type: translate.EvText, Text: "partial"})
	out = enc.Encode(out, &translate.StreamEvent{Type: translate.EvToolStart, Index: 0, ToolCallID: "c", ToolName: "f"})
	out = enc.Encode(out, &translate.StreamEvent{Type: translate.EvError, Text: "upstream \"died\"", Status: 502})
	out = enc.Encode(out, &translate.StreamEvent{Type: translate.EvFinish, StopReason: translate.StopEnd})
	want = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"partial\"}],\"role\":\"model\"},\"index\":0}]}\r\n\r\n" +
		"data: {\"error\":{\"code\":502,\"message\":\"upstream \\\"died\\\"\",\"status\":\"INTERNAL\"}}\r\n\r\n"
	if string(out) != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}

	// A bare finish still carries a content part and usage.
	enc = NewStreamEncoder(translate.StreamOptions{})
	out = enc.Encode(nil, &translate.StreamEvent{Type: translate.EvFinish, StopReason: translate.StopMaxTokens})
	want = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"\"}],\"role\":\"model\"},\"finishReason\":\"MAX_TOKENS\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":0,\"candidatesTokenCount\":0,\"totalTokenCount\":0}}\r\n\r\n"
	if string(out) != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
}

// Every recorded stream survives decoding, Gemini encoding and decoding.
func TestStreamRoundTrip(t *testing.T) {
	for _, name := range []string{"text.sse", "tool.sse", "reasoning.sse"} {
		t.Run(name, func(t *testing.T) {
			evs, _ := readStream(t, recorded(t, name))
			enc := NewStreamEncoder(translate.StreamOptions{})
			var out []byte
			for i := range evs {
				out = enc.Encode(out, &evs[i])
			}
			back, dec := readStream(t, out)
			// The encoder compacts arguments (a newline would break SSE).
			for i := range evs {
				if evs[i].Type == translate.EvToolArgs {
					var buf bytes.Buffer
					json.Compact(&buf, []byte(evs[i].Args))
					evs[i].Args = buf.String()
				}
			}
			if !dec.Finished() || !reflect.DeepEqual(back, evs) {
				t.Fatalf("got  %s\nwant %s\nvia %s", jsonOf(t, back), jsonOf(t, evs), out)
			}
		})
	}
}

// Google's SDK reads the encoded stream, including the final error chunk.
func TestStreamEncoderGenai(t *testing.T) {
	serve := func(evs []translate.StreamEvent) *genai.Client {
		return genaiServer(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("alt") != "sse" || !strings.HasSuffix(r.URL.Path, ":streamGenerateContent") {
				t.Errorf("unexpected request %s", r.URL)
			}
			w.Header().Set("Content-Type", "text/event-stream")
			enc := NewStreamEncoder(translate.StreamOptions{Model: "gemini-2.5-flash"})
			var out []byte
			for i := range evs {
				out = enc.Encode(out, &evs[i])
			}
			w.Write(out)
		})
	}
	for _, name := range []string{"text.sse", "tool.sse", "reasoning.sse"} {
		t.Run(name, func(t *testing.T) {
			evs, _ := readStream(t, recorded(t, name))
			c := serve(evs)
			var text, thoughts strings.Builder
			var calls []*genai.FunctionCall
			var last *genai.GenerateContentResponse
			sigs := 0
			for resp, err := range c.Models.GenerateContentStream(context.Background(), "gemini-2.5-flash", genai.Text("hi"), nil) {
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range resp.Candidates[0].Content.Parts {
					if p.Thought {
						thoughts.WriteString(p.Text)
					} else {
						text.WriteString(p.Text)
					}
					if p.ThoughtSignature != nil {
						sigs++
					}
				}
				calls = append(calls, resp.FunctionCalls()...)
				last = resp
			}
			var wantText, wantThoughts strings.Builder
			wantSigs, wantCalls := 0, 0
			var usage translate.Usage
			for _, ev := range evs {
				switch ev.Type {
				case translate.EvText:
					wantText.WriteString(ev.Text)
				case translate.EvThinking:
					wantThoughts.WriteString(ev.Text)
				case translate.EvSignature:
					wantSigs++
				case translate.EvToolStart:
					wantCalls++
				case translate.EvUsage:
					usage = ev.Usage
				}
			}
			if text.String() != wantText.String() || thoughts.String() != wantThoughts.String() || sigs != wantSigs || len(calls) != wantCalls {
				t.Errorf("text %q thoughts %q sigs %d calls %d", text.String(), thoughts.String(), sigs, len(calls))
			}
			if last.Candidates[0].FinishReason != genai.FinishReasonStop || last.ModelVersion != "gemini-2.5-flash" {
				t.Errorf("last chunk: %s", jsonOf(t, last))
			}
			u := last.UsageMetadata
			if int64(u.PromptTokenCount) != usage.Input || int64(u.CandidatesTokenCount+u.ThoughtsTokenCount) != usage.Output {
				t.Errorf("usage %+v, want %+v", u, usage)
			}
			if name == "tool.sse" && (calls[0].Name != "get_weather" || calls[0].Args["city"] != "Paris" || calls[0].ID == "") {
				t.Errorf("call: %+v", calls[0])
			}
		})
	}
	t.Run("error", func(t *testing.T) {
		c := serve([]translate.StreamEvent{{Type: translate.EvStart, ID: "x"}, {Type: translate.EvText, Text: "par"}, {Type: translate.EvError, Text: "rate limited", Status: 429}})
		var got []string
		var apiErr genai.APIError
		for resp, err := range c.Models.GenerateContentStream(context.Background(), "gemini-2.5-flash", genai.Text("hi"), nil) {
			if err != nil {
				if !errors.As(err, &apiErr) {
					t.Fatalf("not an APIError: %v", err)
				}
				break
			}
			got = append(got, resp.Text())
		}
		if len(got) != 1 || got[0] != "par" || apiErr.Code != 429 || apiErr.Status != "RESOURCE_EXHAUSTED" || apiErr.Message != "rate limited" {
			t.Errorf("got %q, error %+v", got, apiErr)
		}
	})
}

// A tool call followed by more content is written out before it, with a
// pending signature on the call (another provider's signatures are
// wrapped, whatever they look like); errors carry Google's status names.
func TestStreamEncoderToolThenText(t *testing.T) {
	enc := NewStreamEncoder(translate.StreamOptions{})
	var out []byte
	for _, ev := range []translate.StreamEvent{
		{Type: translate.EvSignature, Text: sigA},
		{Type: translate.EvToolStart, Index: 0, ToolCallID: "c1", ToolName: "f"},
		{Type: translate.EvToolArgs, Index: 0, Args: `{"x":1}`},
		{Type: translate.EvSignature, Text: "!!not base64!!"},
		{Type: translate.EvText, Text: "done"},
		{Type: translate.EvFinish, StopReason: translate.StopEnd},
	} {
		out = enc.Encode(out, &ev)
	}
	want := "data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"id\":\"c1\",\"name\":\"f\",\"args\":{\"x\":1}},\"thoughtSignature\":\"" + wrapSignature("", sigA, "") + "\"}],\"role\":\"model\"},\"index\":0}]}\r\n\r\n" +
		"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"done\",\"thoughtSignature\":\"" + wrapSignature("", "!!not base64!!", "") + "\"}],\"role\":\"model\"},\"index\":0}]}\r\n\r\n" +
		"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"\"}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":0,\"candidatesTokenCount\":0,\"totalTokenCount\":0}}\r\n\r\n"
	if string(out) != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
	for code, status := range map[int]string{0: "INTERNAL", 400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"} {
		b := NewStreamEncoder(translate.StreamOptions{}).Encode(nil, &translate.StreamEvent{Type: translate.EvError, Status: code})
		if gjson.GetBytes(bytes.TrimPrefix(b, []byte("data: ")), "error.status").String() != status {
			t.Errorf("%d: %s", code, b)
		}
	}
}
