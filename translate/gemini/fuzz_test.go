package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tidwall/gjson"
	"google.golang.org/genai"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"contents":[{"parts":[{"text":"Hi"}]}]}`))
	f.Add([]byte(`{"contents":[{"role":"user","parts":[{"text":"q"},{"inlineData":{"mimeType":"image/png","data":"AA=="}},{"fileData":{"fileUri":"https://x/y.jpg"}}]},
		{"role":"model","parts":[{"text":"t","thought":true},{"functionCall":{"name":"f","args":{"a":1}},"thoughtSignature":"` + sigA + `"}]},
		{"role":"user","parts":[{"functionResponse":{"name":"f","response":{"result":"ok"}}},{"text":"more"}]}],
		"systemInstruction":{"parts":[{"text":"s"}]},"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"OBJECT","properties":{"a":{"type":"INTEGER","nullable":true}}}}]}],
		"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["f"]}},
		"generationConfig":{"maxOutputTokens":5,"temperature":0.5,"topK":"3","stopSequences":["x"],"responseMimeType":"application/json","responseSchema":{"type":"ARRAY","items":{"type":"STRING"}},"thinkingConfig":{"thinkingBudget":-1,"includeThoughts":true}}}`))
	f.Add([]byte(`{"system_instruction":"plain","contents":[{"role":"function","parts":[{"function_response":{"id":"x","name":"g","response":{"error":{"code":1}}}}]}]}`))
	f.Add([]byte(`{"contents":[{"role":"model","parts":[{"thoughtSignature":"AAAA"}]}],"generationConfig":{"thinkingConfig":{"thinkingLevel":"low"}}}`))
	f.Add([]byte(`{"contents":[1,null,{"parts":null}]}`))
	// Gemini CLI sending back another provider's signature the proxy
	// wrapped with its thinking text.
	f.Add([]byte(`{"contents":[{"role":"user","parts":[{"text":"q"}]},{"role":"model","parts":[{"functionCall":{"id":"c","name":"f","args":{}},"thoughtSignature":"` +
		wrapSignature("anthropic", "sig", "thinking") + `"}]},{"role":"user","parts":[{"functionResponse":{"id":"c","name":"f","response":{"output":"ok"}}}]}],"tools":[{"functionDeclarations":[{"name":"f.g:h"}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeRequest(body, "m")
		if err != nil {
			var re *translate.RequestError
			if !errors.As(err, &re) {
				t.Fatalf("non-RequestError %T: %v", err, err)
			}
			return
		}
		// Whatever decodes must encode (or be refused as a RequestError).
		if _, err := EncodeRequest(r); err != nil {
			var re *translate.RequestError
			if !errors.As(err, &re) {
				t.Fatalf("encode: non-RequestError %T: %v", err, err)
			}
		}
		if _, err := DecodeCountTokens(body, "m"); err != nil {
			t.Fatalf("count tokens refused what generate accepted: %v", err)
		}
		if out, err := Patch(body, translate.Overrides{SystemPrompt: "p", Reasoning: "high"}); err == nil && !gjson.ValidBytes(out) {
			t.Fatalf("patch made invalid JSON: %s", out)
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	f.Add([]byte(`{"candidates":[{"content":{"parts":[{"text":"a","thought":true},{"text":"b","thoughtSignature":"AAAA"},{"functionCall":{"name":"f","args":{"x":1}}}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":2,"totalTokenCount":3,"thoughtsTokenCount":4},"modelVersion":"m","responseId":"r"}`))
	f.Add([]byte(`{"promptFeedback":{"blockReason":"SAFETY"}}`))
	f.Add([]byte(`{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":[1]}},{"text":5}]},"finishReason":"MAX_TOKENS"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeResponse(body)
		if err != nil {
			return
		}
		out := EncodeResponse(r)
		if !gjson.ValidBytes(out) {
			t.Fatalf("encode made invalid JSON: %s", out)
		}
		var g genai.GenerateContentResponse
		if err := json.Unmarshal(out, &g); err != nil {
			t.Fatalf("the SDK cannot read %s: %v", out, err)
		}
	})
}

func FuzzStreamDecoder(f *testing.F) {
	for _, name := range []string{"text.sse", "tool.sse", "reasoning.sse"} {
		b, err := os.ReadFile(filepath.Join("..", "testdata", "streams", "gemini", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("data: {\"error\":{\"code\":500,\"message\":\"x\"}}\r\n\r\n"))
	f.Add([]byte("data: {\"promptFeedback\":{\"blockReason\":\"OTHER\"}}\n\ndata: [DONE]\n\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		rd := translate.NewSSEReader(bytes.NewReader(raw))
		dec := NewStreamDecoder()
		enc := NewStreamEncoder(translate.StreamOptions{Model: "m"})
		var evs []translate.StreamEvent
		var out []byte
		for {
			ev, err := rd.Next()
			if err != nil {
				break
			}
			n := len(evs)
			evs, err = dec.Decode(evs, ev)
			if err != nil {
				continue
			}
			for i := n; i < len(evs); i++ {
				out = enc.Encode(out, &evs[i])
			}
		}
		// Order contract: EvStart first, at most one terminal event, last.
		for i, ev := range evs {
			if ev.Type == translate.EvStart && i != 0 {
				t.Fatalf("EvStart at %d", i)
			}
			if (ev.Type == translate.EvFinish || ev.Type == translate.EvError) && i != len(evs)-1 {
				t.Fatalf("terminal event at %d of %d", i, len(evs))
			}
		}
		// The encoder's output is whole SSE events of valid JSON.
		for _, chunk := range bytes.Split(out, []byte("\r\n\r\n")) {
			if len(chunk) == 0 {
				continue
			}
			data, ok := bytes.CutPrefix(chunk, []byte("data: "))
			if !ok || bytes.ContainsAny(data, "\r\n") || !gjson.ValidBytes(data) {
				t.Fatalf("bad chunk %q", chunk)
			}
		}
	})
}
