package fakeupstream

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
)

var base64Std = base64.StdEncoding

// signingKey makes the signatures the fakes issue for thinking (Anthropic)
// and for function calls (Gemini) verifiable later, by any fake of the same
// provider, as the real providers verify their own opaque signatures.
var signingKey = []byte("fakeupstream signing key")

// sign is a base64 HMAC of the parts, prefixed so a signature of one kind
// never verifies as another.
func sign(kind string, parts ...string) string {
	m := hmac.New(sha256.New, signingKey)
	m.Write([]byte(kind))
	for _, p := range parts {
		m.Write([]byte{0})
		m.Write([]byte(p))
	}
	// A recognisable header followed by the MAC, like the real opaque blobs.
	return base64.StdEncoding.EncodeToString(append([]byte("fakeupstream/"+kind+"/"), m.Sum(nil)...))
}

func verify(sig, kind string, parts ...string) bool {
	return hmac.Equal([]byte(sig), []byte(sign(kind, parts...)))
}

// thinkingSignature signs an Anthropic thinking block's text.
func thinkingSignature(thinking string) string { return sign("thinking", thinking) }

// functionCallSignature signs a Gemini function call; args is compared in
// canonical form so re-serialising it does not break the signature.
func functionCallSignature(name, args string) string {
	return sign("gemini-fc", name, canonicalJSON(args))
}

// canonicalJSON re-encodes a JSON value with sorted keys and no spaces; raw
// is returned unchanged if it is not valid JSON.
func canonicalJSON(raw string) string {
	if strings.TrimSpace(raw) == "" {
		return "{}"
	}
	var v any
	d := json.NewDecoder(strings.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return raw
	}
	return string(jsonBytes(v))
}

// compactJSON removes insignificant space from a JSON value.
func compactJSON(raw string) string {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(raw)); err != nil {
		return raw
	}
	return b.String()
}

// decodeBase64 accepts standard and URL-safe base64, padded or not, as
// Google's JSON parser does for bytes fields.
func decodeBase64(s string) ([]byte, bool) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, true
		}
	}
	return nil, false
}

// sniffImage is the image type of data ("image/png", ...), "" if data is not
// a recognisable image.
func sniffImage(data []byte) string {
	ct := http.DetectContentType(data)
	if strings.HasPrefix(ct, "image/") {
		return ct
	}
	return ""
}
