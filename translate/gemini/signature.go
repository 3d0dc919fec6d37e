package gemini

import (
	"encoding/base64"
)

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

// sigStd is s as standard padded base64, which the SDKs' bytes fields
// (genai's Part.ThoughtSignature []byte) need; "" when s is not base64.
func sigStd(s string) string {
	if s == "" {
		return ""
	}
	if _, err := base64.StdEncoding.DecodeString(s); err == nil {
		return s
	}
	for _, enc := range [...]*base64.Encoding{base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err := enc.DecodeString(s); err == nil {
			return base64.StdEncoding.EncodeToString(raw)
		}
	}
	return ""
}
