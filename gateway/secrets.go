package gateway

import (
	"regexp"
	"strings"
)

// secretLike matches what API keys look like, so an upstream error message
// that quotes (part of) a key never reaches a client, log or admin answer.
var secretLike = regexp.MustCompile(`(sk|pk|rk|key)[-_][A-Za-z0-9_\-*.]{6,}|AIza[A-Za-z0-9_\-]{10,}`)

// scrub removes secrets from upstream text before it is shown to anyone.
func scrub(msg, secret string) string {
	if secret != "" {
		msg = strings.ReplaceAll(msg, secret, "[redacted]")
	}
	return secretLike.ReplaceAllString(msg, "[redacted]")
}

// maskSecret shows at most the first 3 and last 4 characters of a secret.
func maskSecret(s string) string {
	if len(s) <= 8 {
		return strings.Repeat("*", len(s))
	}
	if len(s) < 12 {
		return s[:1] + "…" + s[len(s)-2:]
	}
	return s[:3] + "…" + s[len(s)-4:]
}

// maxEcho is the most of a client's own input (a model name, a path) an
// error message repeats: enough to recognize it, never enough to be used
// to blow up answers, logs or the request log.
const maxEcho = 200
