// Package pool picks upstream keys by weight among those under every limit
// and healthy, tracks their health, and keeps their counters in a
// store.Store that outlives config reloads.
package pool

import (
	"time"

	"github.com/llmproxy/caddy-llm-proxy/limits"
)

// KeySpec is one configured key as the handler hands it to the pool.
type KeySpec struct {
	ID       string // stable, URL-safe, does not reveal the secret (see KeyID)
	Upstream string
	Secret   string
	// Limits are the key's effective limits: Weight (>= 1; 0 means 1) is its
	// share in weighted selection; a zero cap is unlimited, and a negative
	// limit is rejected by New.
	//
	// RPM and TPM count request starts in an exact rolling 60 s; RPD and
	// TPD count the calendar day in the pool's Location. A request's tokens
	// count at its start: its estimate is reserved at admission and replaced
	// by the real input+output tokens when it ends. A token limit whose
	// window holds no tokens admits any request, even one estimated above
	// the limit, so that an oversized request is not refused forever.
	Limits   limits.Set
	Disabled bool   // disabled by configuration
	Note     string // free text
	Source   string // "config" or "admin"
	// Egress is where the key's requests go when not where its
	// upstream's do (nil: as its upstream's); the pool only keeps it
	// with the key. A pointer, so that a lease stays small.
	Egress *Egress
}

// Egress is a key's own way out: its endpoint, egress proxy and extra
// headers (added after the upstream's, replacing those of the same name).
// Empty fields are the upstream's.
type Egress struct {
	BaseURL string            `json:"base_url,omitempty"`
	Proxy   string            `json:"proxy,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
}

// IsZero reports whether the key goes out as its upstream does.
func (e Egress) IsZero() bool { return e.BaseURL == "" && e.Proxy == "" && len(e.Headers) == 0 }

// Own is e as a KeySpec holds it: nil when the key goes out as its
// upstream does.
func (e Egress) Own() *Egress {
	if e.IsZero() {
		return nil
	}
	return &e
}

// Target is one upstream that may serve a request, in its priority tier.
type Target struct {
	Upstream string
	Priority int
}

// State is a key's health as the admin API names it.
type State string

const (
	StateActive    State = "active"
	StateCooling   State = "cooling"
	StateExhausted State = "exhausted"
	StateDisabled  State = "disabled"
)

// Outcome is what happened to a request sent with a lease, reported to Done.
type Outcome struct {
	// Status is the upstream HTTP status, or 0 when no response came
	// (network error, timeout).
	Status int
	// RetryAfter is the upstream's Retry-After, if it sent one.
	RetryAfter time.Duration
	// QuotaExhausted is true for a 402 or an insufficient-quota error.
	QuotaExhausted bool
	// Reason is a short, secret-free text for the admin API.
	Reason string
	// InputTokens and OutputTokens are the real usage; they settle the
	// estimate reserved at admission.
	InputTokens  int64
	OutputTokens int64
	// Canceled is true when the client went away before the upstream
	// answered: the key is not to blame, so its health is left alone, but
	// the tokens are still settled (the upstream may have billed them).
	Canceled bool
}
