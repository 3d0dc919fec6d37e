package translate

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The canonical model: every inbound API decodes into it and every provider
// encodes from it, so N APIs cost N codecs rather than N×N translators.
// Requests, whole responses and stream events each have one canonical form.

// Role is who speaks a message. The system prompt is not a message: it
// lives in Request.System; only instructions given partway through the
// conversation are RoleSystem messages.
type Role string

const (
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	// RoleTool messages carry only PartToolResult parts: the answers to the
	// tool calls of the assistant message before them.
	RoleTool Role = "tool"
	// RoleSystem messages carry only PartText parts: system instructions
	// given at that point of the conversation (Anthropic mid-conversation
	// system messages), which apply from there on. Encoders put them where
	// their provider can take them: a system message in place (Chat,
	// Responses), else the system prompt (Gemini, Anthropic); see
	// SystemText.
	RoleSystem Role = "system"
)

// PartType is the kind of a message part.
type PartType uint8

const (
	PartText PartType = iota
	PartImage
	PartToolCall
	PartToolResult
	PartThinking
)

// Part is one piece of a message or response.
type Part struct {
	Type PartType `json:"type"`

	// Text is the text of a PartText, or the reasoning text of a PartThinking.
	Text string `json:"text,omitempty"`

	// An image is either inline data (MediaType + base64 Data, no "data:"
	// prefix) or a URL (http(s)). Encoders for providers that only take one
	// form convert: a data URL can always be made from Data; an http URL is
	// passed as a URL where the provider supports it.
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`

	// ToolCallID identifies a PartToolCall, and the call a PartToolResult
	// answers. Decoders of APIs without ids (Gemini) make them up, stably
	// within one request (see MakeToolCallID).
	ToolCallID string `json:"tool_call_id,omitempty"`
	// ToolName is the function called, on a PartToolCall and, where the
	// decoder can tell (always, after ResolveToolNames), on a PartToolResult.
	ToolName string `json:"tool_name,omitempty"`
	// Arguments is the JSON text of a call's arguments (an object).
	Arguments string `json:"arguments,omitempty"`
	// Content is a PartToolResult's content: PartText and PartImage parts.
	Content []Part `json:"content,omitempty"`
	// IsError marks a PartToolResult that reports a failure.
	IsError bool `json:"is_error,omitempty"`

	// Signature is the opaque signature of a PartThinking (Anthropic
	// thinking signature, Gemini thoughtSignature), to be sent back with
	// the same part in later turns.
	Signature string `json:"signature,omitempty"`
	// Redacted marks an Anthropic redacted_thinking part; its opaque
	// payload is in Data.
	Redacted bool `json:"redacted,omitempty"`
	// SignatureFormat is the wire format of the provider that issued
	// Signature ("anthropic", "gemini"), "" when unknown. A signature only
	// means something to its issuer: encoders leave out another
	// provider's (an unknown one is sent, as before).
	SignatureFormat string `json:"signature_format,omitempty"`

	// ToolKind and Namespace describe a PartToolCall the way the client
	// declared its tool (see Tool): a custom tool's call still carries
	// Arguments {"input": text} everywhere in the canonical model. In a
	// Request, ToolName is the name providers see (flattened); in a
	// Response, after ClientTools.RestoreResponse, it is the client's own
	// name within Namespace.
	ToolKind  ToolKind `json:"tool_kind,omitempty"`
	Namespace string   `json:"namespace,omitempty"`
}

// Message is one turn of the conversation.
type Message struct {
	Role  Role   `json:"role"`
	Parts []Part `json:"parts"`
}

// ToolKind is how a client declared a tool.
type ToolKind string

const (
	// ToolFunction is a function with JSON object arguments (every API).
	ToolFunction ToolKind = ""
	// ToolCustom is a tool whose input is free text, optionally held to a
	// grammar (Responses `custom` tools: Codex's exec and apply_patch).
	// Providers without custom tools get a function of one string
	// argument, "input" (CustomToolParameters), so its calls carry
	// Arguments {"input": text}; CustomToolInput reads the text back.
	ToolCustom ToolKind = "custom"
)

// Tool is a function the model may call.
type Tool struct {
	// Name is the name every provider sees: the client's own, unless it
	// had to change (a namespaced tool, or a name some provider refuses;
	// see ProviderToolName), in which case ClientName keeps the client's.
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Parameters is the JSON Schema of the arguments (an object schema).
	Parameters json.RawMessage `json:"parameters,omitempty"`

	// Kind is ToolFunction or ToolCustom.
	Kind ToolKind `json:"kind,omitempty"`
	// Format is a custom tool's input format as the client declared it
	// (Responses: {"type":"text"} or {"type":"grammar","syntax":"lark",
	// "definition":...}); nil for free text. Its description is also in
	// Description, for providers that cannot enforce it.
	Format json.RawMessage `json:"format,omitempty"`
	// Namespace is the namespace the client declared the tool in
	// (Responses namespace tools), "" for none.
	Namespace string `json:"namespace,omitempty"`
	// ClientName is the tool's name as the client declared it (within
	// Namespace), when it differs from Name; "" otherwise.
	ClientName string `json:"client_name,omitempty"`
}

// ToolChoice says whether and which tool the model must call.
type ToolChoice struct {
	// Mode is "auto", "none", "required" (some tool) or "tool" (Name).
	Mode string `json:"mode"`
	Name string `json:"name,omitempty"`
}

// ResponseFormat asks for JSON output.
type ResponseFormat struct {
	// Type is "text", "json_object" or "json_schema".
	Type   string          `json:"type"`
	Name   string          `json:"name,omitempty"`
	Schema json.RawMessage `json:"schema,omitempty"`
	Strict bool            `json:"strict,omitempty"`
}

// Reasoning is how much the model should think before answering.
type Reasoning struct {
	// Effort is "low", "medium" or "high" ("" when only Budget is known).
	Effort string `json:"effort,omitempty"`
	// Budget is a thinking budget in tokens (0 when only Effort is known).
	Budget int `json:"budget,omitempty"`
	// Off asks for no reasoning at all.
	Off bool `json:"off,omitempty"`
	// EffortOnly says the provider takes only an effort level for this
	// model, no token budget (Claude Opus 4.7 and later: thinking
	// {"type":"adaptive"} with output_config.effort). providers.Fit sets
	// it from the model family.
	EffortOnly bool `json:"effort_only,omitempty"`
}

// Thinking budgets for the efforts, as the contract fixes them.
const (
	BudgetLow    = 4096
	BudgetMedium = 12288
	BudgetHigh   = 24576
)

// BudgetTokens is the thinking budget of r: its Budget, else its Effort's.
func (r *Reasoning) BudgetTokens() int {
	if r.Budget > 0 {
		return r.Budget
	}
	switch r.Effort {
	case "low", "minimal":
		return BudgetLow
	case "high":
		return BudgetHigh
	}
	return BudgetMedium
}

// EffortLevel is r's Effort, else the level its Budget is closest to.
func (r *Reasoning) EffortLevel() string {
	if r.Effort != "" {
		return r.Effort
	}
	switch {
	case r.Budget <= BudgetLow:
		return "low"
	case r.Budget <= BudgetMedium:
		return "medium"
	}
	return "high"
}

// Request is a generation request in canonical form.
type Request struct {
	// Model is the model name as the provider should get it.
	Model string `json:"model"`
	// System is the system prompt (OpenAI system/developer messages joined
	// with blank lines, Anthropic's top-level system, Gemini's
	// systemInstruction).
	System     string      `json:"system,omitempty"`
	Messages   []Message   `json:"messages"`
	Tools      []Tool      `json:"tools,omitempty"`
	ToolChoice *ToolChoice `json:"tool_choice,omitempty"`
	// ParallelToolCalls, when set, allows or forbids several calls per turn.
	ParallelToolCalls *bool `json:"parallel_tool_calls,omitempty"`

	// MaxTokens caps the output; 0 = the client did not say.
	MaxTokens   int      `json:"max_tokens,omitempty"`
	Temperature *float64 `json:"temperature,omitempty"`
	TopP        *float64 `json:"top_p,omitempty"`
	TopK        *int     `json:"top_k,omitempty"`
	Stop        []string `json:"stop,omitempty"`

	ResponseFormat *ResponseFormat `json:"response_format,omitempty"`
	Reasoning      *Reasoning      `json:"reasoning,omitempty"`

	Stream bool `json:"stream,omitempty"`
	// IncludeUsage: an OpenAI Chat client asked for the usage chunk.
	IncludeUsage bool `json:"include_usage,omitempty"`
	// User is an end-user id for abuse monitoring, where the API has one.
	// Encoders fit it to their provider's limits (a stable hash when it
	// is too long; see FitUserID).
	User string `json:"user,omitempty"`

	// MaxOutput is the most output tokens (thinking included) the
	// provider may be asked for, 0 when unknown. The engine sets it from
	// the model family's limit or the upstream's max_output_tokens
	// (providers.Fit); encoders that choose max tokens themselves
	// (Anthropic requires one) stay within it.
	MaxOutput int `json:"max_output,omitempty"`
	// Dropped lists what the decoder left out because no provider but the
	// client's own could use it (hosted tools such as web_search, items
	// the client's provider produced), each as "<param>: <what>", for the
	// engine to log as a warning. Same-format passthrough drops nothing.
	Dropped []string `json:"dropped,omitempty"`
}

// StopReason is why generation ended.
type StopReason string

const (
	StopEnd           StopReason = "end"            // natural end (stop, end_turn, STOP)
	StopMaxTokens     StopReason = "max_tokens"     // length, max_tokens, MAX_TOKENS
	StopToolUse       StopReason = "tool_use"       // tool_calls, tool_use
	StopSequence      StopReason = "stop_sequence"  // a stop sequence matched
	StopContentFilter StopReason = "content_filter" // content_filter, SAFETY, refusal...
)

// Response is a whole (non-streamed) answer in canonical form.
type Response struct {
	ID    string `json:"id,omitempty"`
	Model string `json:"model,omitempty"`
	// Parts are the answer's text, thinking and tool calls, in order.
	Parts        []Part     `json:"parts"`
	StopReason   StopReason `json:"stop_reason,omitempty"`
	StopSequence string     `json:"stop_sequence,omitempty"`
	Usage        Usage      `json:"usage"`
}

// EventType is the kind of a canonical stream event.
type EventType uint8

const (
	// EvStart opens the answer: ID and Model.
	EvStart EventType = iota
	// EvText is a piece of answer text.
	EvText
	// EvThinking is a piece of reasoning text.
	EvThinking
	// EvSignature is the signature of the reasoning streamed so far (it
	// closes that thinking part). Redacted thinking arrives as one
	// EvSignature with Redacted set and the payload in Text.
	EvSignature
	// EvToolStart opens tool call number Index (0, 1, ... in order) with
	// its ToolCallID and ToolName.
	EvToolStart
	// EvToolArgs is a fragment of tool call Index's JSON arguments.
	EvToolArgs
	// EvUsage reports usage so far; later reports replace earlier ones
	// field by field where non-zero.
	EvUsage
	// EvFinish ends the answer with StopReason (and StopSequence).
	EvFinish
	// EvError reports a failure; the stream ends after it.
	EvError
)

// StreamEvent is one canonical stream event.
type StreamEvent struct {
	Type EventType

	ID    string // EvStart
	Model string // EvStart

	Text     string // EvText, EvThinking, EvSignature (the signature), EvError (message)
	Redacted bool   // EvSignature of redacted thinking
	// SignatureFormat is the wire format of the provider that issued an
	// EvSignature (see Part.SignatureFormat); stream decoders set it.
	SignatureFormat string

	Index      int    // EvToolStart, EvToolArgs
	ToolCallID string // EvToolStart
	ToolName   string // EvToolStart
	Args       string // EvToolArgs (JSON fragments, also for a custom tool's call)
	// EvToolStart: the kind and namespace of the tool called, as the client
	// declared it (set by ClientTools.Wrap; see Part.ToolKind).
	ToolKind  ToolKind
	Namespace string

	Usage Usage // EvUsage

	StopReason   StopReason // EvFinish
	StopSequence string     // EvFinish

	Status int // EvError: an HTTP-like status for the error, 0 if unknown
}

// StreamDecoder turns a provider's event stream into canonical events.
// One decoder serves one stream; it keeps whatever state the provider's
// framing needs (open blocks, tool indexes).
type StreamDecoder interface {
	// Decode appends the canonical events of one upstream SSE event to dst.
	Decode(dst []StreamEvent, ev Event) ([]StreamEvent, error)
	// Finished reports whether the stream ended properly (a finish or an
	// error was seen); a stream that stops before is cut.
	Finished() bool
}

// StreamEncoder turns canonical events into an inbound API's event stream.
// One encoder serves one stream and keeps the framing state (open blocks,
// output items, buffered tool arguments).
type StreamEncoder interface {
	// Encode appends the wire bytes (whole SSE events) for ev to dst. It
	// may append nothing (the event is buffered or has no counterpart).
	Encode(dst []byte, ev *StreamEvent) []byte
}

// StreamOptions tell an encoder what the client asked for.
type StreamOptions struct {
	// Model is the model name the client asked for, echoed in the stream.
	Model string
	// IncludeUsage: OpenAI Chat's stream_options.include_usage.
	IncludeUsage bool
}

// Overrides are an upstream's configured changes to every request it gets.
type Overrides struct {
	// SystemPrompt is prepended to the request's system prompt.
	SystemPrompt string
	// Reasoning is "" or "auto" (leave the client's wish), "off", "low",
	// "medium", "high", or a budget in tokens as a decimal string.
	Reasoning string
}

// Apply changes a canonical request as the overrides say.
func (o Overrides) Apply(r *Request) {
	if o.SystemPrompt != "" {
		if r.System == "" {
			r.System = o.SystemPrompt
		} else {
			r.System = o.SystemPrompt + "\n\n" + r.System
		}
	}
	if rs := o.ReasoningOverride(); rs != nil {
		if rs.Off {
			r.Reasoning = nil
		} else {
			r.Reasoning = rs
		}
	}
}

// ReasoningOverride is the Reasoning the overrides impose, or nil for auto.
// Off is returned as &Reasoning{Off: true}.
func (o Overrides) ReasoningOverride() *Reasoning {
	switch o.Reasoning {
	case "", "auto":
		return nil
	case "off":
		return &Reasoning{Off: true}
	case "minimal":
		return &Reasoning{Effort: "minimal", Budget: BudgetLow}
	case "low":
		return &Reasoning{Effort: "low", Budget: BudgetLow}
	case "medium":
		return &Reasoning{Effort: "medium", Budget: BudgetMedium}
	case "high":
		return &Reasoning{Effort: "high", Budget: BudgetHigh}
	}
	n := 0
	for _, c := range o.Reasoning {
		if c < '0' || c > '9' {
			return nil
		}
		n = n*10 + int(c-'0')
	}
	if n <= 0 {
		return nil
	}
	r := &Reasoning{Budget: n}
	r.Effort = r.EffortLevel()
	return r
}

// ResolveToolNames fills in the ToolName of tool results from the calls
// they answer, for APIs (OpenAI) whose results carry only the call id and
// providers (Gemini) that need the name.
func ResolveToolNames(r *Request) {
	names := map[string]string{}
	for mi := range r.Messages {
		for pi := range r.Messages[mi].Parts {
			p := &r.Messages[mi].Parts[pi]
			switch p.Type {
			case PartToolCall:
				names[p.ToolCallID] = p.ToolName
			case PartToolResult:
				if p.ToolName == "" {
					p.ToolName = names[p.ToolCallID]
				}
			}
		}
	}
}

// Now is the clock encoders use for timestamps (`created`); tests fix it.
var Now = time.Now

// RequestError is a client request that cannot be decoded: a 400 in the
// client's API shape.
type RequestError struct {
	Message string
	// Param names the offending field where the API reports one.
	Param string
}

func (e *RequestError) Error() string { return e.Message }

// Errorf makes a RequestError.
func Errorf(format string, args ...any) *RequestError {
	return &RequestError{Message: fmt.Sprintf(format, args...)}
}

// SignatureFor reports whether a signature issued by the provider of
// wire format issuer ("" = unknown) may be sent to a provider of wire
// format to.
func SignatureFor(issuer, to string) bool { return issuer == "" || issuer == to }

// MakeToolCallID makes a tool-call id for an API that has none (Gemini),
// stable for the same seed and position, in the style the target API uses
// ("call_" for OpenAI, "toolu_" for Anthropic).
func MakeToolCallID(prefix, seed string, n int) string {
	sum := sha256.Sum256([]byte(seed + "\x00" + strconv.Itoa(n)))
	return prefix + hex.EncodeToString(sum[:12])
}

// Append adds ev to dst. Decoders use it rather than append with an event
// literal: each literal would be a stack temporary of the calling function,
// so a decoder that builds a dozen kinds of events would have a frame of
// kilobytes, and an open stream keeps the deepest stack it ever reached.
// Passed as an argument, the event lives in the caller's one outgoing
// argument area instead.
//
//go:noinline
func Append(dst []StreamEvent, ev StreamEvent) []StreamEvent { return append(dst, ev) }

// OrphanLabel is the text that stands for a tool result answering no call,
// for encoders that must send such a result as plain user content:
// "Result of tool call NAME (ID):" (or "Error from ..." for a failure).
func OrphanLabel(p *Part) string {
	var sb strings.Builder
	if p.IsError {
		sb.WriteString("Error from tool call ")
	} else {
		sb.WriteString("Result of tool call ")
	}
	if p.ToolName != "" {
		sb.WriteString(p.ToolName)
		sb.WriteByte(' ')
	}
	sb.WriteByte('(')
	sb.WriteString(p.ToolCallID)
	sb.WriteString("):")
	return sb.String()
}
