package gemini

import (
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// Signatures the proxy hands a Gemini client come from another provider
// (a Gemini upstream's answers reach Gemini clients untouched), whose
// signature is bound to the thinking text it signs (Anthropic). Gemini
// clients send back only the signature, on the part after the thought
// (Gemini CLI drops thought parts from its history), so the proxy gives
// them a thoughtSignature that carries the signature, its issuer and the
// thinking text: base64 of wrapMagic and a JSON object. A real Gemini
// signature never starts with wrapMagic once decoded.
const wrapMagic = "llmproxy:thought:"

type wrappedSig struct {
	Format string `json:"f,omitempty"`
	Sig    string `json:"s"`
	Text   string `json:"t,omitempty"`
}

// wrapSignature is the thoughtSignature given a Gemini client for another
// provider's signature of text.
func wrapSignature(format, sig, text string) string {
	if sig == "" {
		return ""
	}
	js, _ := json.Marshal(wrappedSig{Format: format, Sig: sig, Text: text})
	return base64.StdEncoding.EncodeToString(append([]byte(wrapMagic), js...))
}

// thoughtPart is the thinking part of a thoughtSignature: another
// provider's signature with its thinking text when a proxy wrapped it (a
// client sends back what this proxy gave it; an upstream may be another
// proxy), else Gemini's own.
func thoughtPart(sig string) translate.Part {
	p := translate.Part{Type: translate.PartThinking, Signature: sig, SignatureFormat: Name}
	if !strings.HasPrefix(sig, "bGxtcHJveHk6dGhvdWdodDp") { // base64 of wrapMagic's first bytes
		return p
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return p
	}
	js, ok := strings.CutPrefix(string(raw), wrapMagic)
	var w wrappedSig
	if !ok || json.Unmarshal([]byte(js), &w) != nil || w.Sig == "" {
		return p
	}
	return translate.Part{Type: translate.PartThinking, Text: w.Text, Signature: w.Sig, SignatureFormat: w.Format}
}

// sigValid reports whether s is base64 in a form Gemini's bytes fields
// accept (standard or URL-safe, padded or not): anything else makes it
// answer 400 "Base64 decoding failed".
func sigValid(s string) bool {
	if s == "" {
		return false
	}
	for _, enc := range [...]*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if _, err := enc.DecodeString(s); err == nil {
			return true
		}
	}
	return false
}
