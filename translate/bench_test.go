package translate_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llmproxy/caddy-llm-proxy/translate"
	"github.com/llmproxy/caddy-llm-proxy/translate/anthropic"
	"github.com/llmproxy/caddy-llm-proxy/translate/chat"
	"github.com/llmproxy/caddy-llm-proxy/translate/gemini"
	"github.com/llmproxy/caddy-llm-proxy/translate/responses"
)

// Benchmarks of each translation direction: requests (client API ->
// canonical -> provider), whole answers (provider -> canonical -> client
// API) and streams (a recorded provider stream through its decoder and a
// client encoder).

var benchChatRequest = []byte(`{"model":"m","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"What is the weather in Paris?"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Paris\"}"}}]},{"role":"tool","tool_call_id":"call_1","content":"sunny, 21C"}],"tools":[{"type":"function","function":{"name":"weather","description":"Current weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}],"max_tokens":512,"temperature":0.3}`)

func BenchmarkRequestChatToAnthropic(b *testing.B) { benchRequest(b, anthropic.EncodeRequest) }

func BenchmarkRequestChatToGemini(b *testing.B) { benchRequest(b, gemini.EncodeRequest) }

func BenchmarkRequestChatToChat(b *testing.B) { benchRequest(b, chat.EncodeRequest) }

func BenchmarkRequestChatToResponses(b *testing.B) { benchRequest(b, responses.EncodeRequest) }

func benchRequest(b *testing.B, encode func(*translate.Request) ([]byte, error)) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchChatRequest)))
	for b.Loop() {
		r, err := chat.DecodeRequest(benchChatRequest)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := encode(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResponseAnthropicToChat(b *testing.B) {
	body := []byte(`{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"It is sunny and 21C in Paris."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":120,"output_tokens":12}}`)
	benchResponse(b, body, anthropic.DecodeResponse, chat.EncodeResponse)
}

func BenchmarkResponseGeminiToAnthropic(b *testing.B) {
	body := []byte(`{"candidates":[{"content":{"role":"model","parts":[{"text":"It is sunny and 21C in Paris."}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":120,"candidatesTokenCount":12,"totalTokenCount":132},"modelVersion":"gemini-2.5-flash","responseId":"r1"}`)
	benchResponse(b, body, gemini.DecodeResponse, anthropic.EncodeResponse)
}

func BenchmarkResponseChatToResponses(b *testing.B) {
	body := []byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"It is sunny and 21C in Paris."},"finish_reason":"stop"}],"usage":{"prompt_tokens":120,"completion_tokens":12,"total_tokens":132}}`)
	benchResponse(b, body, chat.DecodeResponse, responses.EncodeResponse)
}

func BenchmarkResponseResponsesToChat(b *testing.B) {
	body := []byte(`{"id":"resp_1","object":"response","created_at":1,"status":"completed","background":false,"error":null,"incomplete_details":null,"instructions":null,"max_output_tokens":null,"model":"gpt-4o","output":[{"id":"msg_1","type":"message","status":"completed","content":[{"type":"output_text","annotations":[],"logprobs":[],"text":"It is sunny and 21C in Paris."}],"role":"assistant"}],"parallel_tool_calls":true,"previous_response_id":null,"reasoning":{"effort":null,"summary":null},"store":false,"temperature":1.0,"text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[],"top_p":1.0,"truncation":"disabled","usage":{"input_tokens":120,"input_tokens_details":{"cached_tokens":0},"output_tokens":12,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":132},"user":null,"metadata":{}}`)
	benchResponse(b, body, responses.DecodeResponse, chat.EncodeResponse)
}

func benchResponse(b *testing.B, body []byte, decode func([]byte) (*translate.Response, error), encode func(*translate.Response) []byte) {
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		r, err := decode(body)
		if err != nil {
			b.Fatal(err)
		}
		_ = encode(r)
	}
}

// BenchmarkStream runs each recorded provider stream (text scenario)
// through every client encoder; b.N counts whole streams.
func BenchmarkStream(b *testing.B) {
	decoders := map[string]func() translate.StreamDecoder{
		"openai": chat.NewStreamDecoder, "anthropic": anthropic.NewStreamDecoder, "gemini": gemini.NewStreamDecoder,
		"responses": responses.NewStreamDecoder,
	}
	encoders := map[string]func(translate.StreamOptions) translate.StreamEncoder{
		"chat": chat.NewStreamEncoder, "responses": responses.NewStreamEncoder,
		"anthropic": anthropic.NewStreamEncoder, "gemini": gemini.NewStreamEncoder,
	}
	for _, prov := range []string{"openai", "anthropic", "gemini", "responses"} {
		rec, err := os.ReadFile(filepath.Join("testdata", "streams", prov, "text.sse"))
		if err != nil {
			b.Fatal(err)
		}
		for _, in := range []string{"chat", "responses", "anthropic", "gemini"} {
			b.Run(prov+"_to_"+in, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(rec)))
				var evs []translate.StreamEvent
				var out []byte
				for b.Loop() {
					rd := translate.NewSSEReader(strings.NewReader(string(rec)))
					dec, enc := decoders[prov](), encoders[in](translate.StreamOptions{Model: "m", IncludeUsage: true})
					for {
						ev, err := rd.Next()
						if err != nil {
							break
						}
						evs, _ = dec.Decode(evs[:0], ev)
						for i := range evs {
							out = enc.Encode(out[:0], &evs[i])
						}
					}
				}
			})
		}
	}
}

// BenchmarkWatch follows each recorded text stream as a passthrough does,
// with its format's Watch; b.N counts whole streams.
func BenchmarkWatch(b *testing.B) {
	for dir, name := range recordedFormats {
		rec, err := os.ReadFile(filepath.Join("testdata", "streams", dir, "text.sse"))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(dir, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(rec)))
			prov := translate.Provider(name)
			rd := translate.NewSSEReader(nil)
			for b.Loop() {
				rd.Reset(bytes.NewReader(rec), 0)
				w := prov.NewWatch()
				for {
					ev, err := rd.Next()
					if err != nil {
						break
					}
					w.Observe(ev)
				}
			}
		})
	}
}
