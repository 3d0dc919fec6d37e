package gateway

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/llmproxy/caddy-llm-proxy/clientapi"
)

func TestFallbackChains(t *testing.T) {
	chains := fallbackChains(map[string][]string{
		"a": {"b", "c"},
		"b": {"d"},
		"d": {"c"}, // c is reached twice from a: tried once
		"x": {"y"},
	})
	for model, want := range map[string][]string{
		"a": {"a", "b", "d", "c"},
		"b": {"b", "d", "c"},
		"d": {"d", "c"},
		"x": {"x", "y"},
		"c": nil,
	} {
		if got := chains[model]; !reflect.DeepEqual(got, want) {
			t.Errorf("chain of %s = %v, want %v", model, got, want)
		}
	}
	if fallbackChains(nil) != nil {
		t.Error("no fallbacks made chains")
	}
}

func TestMoreTelling(t *testing.T) {
	limited := func(s int) *clientapi.Error {
		return &clientapi.Error{Status: http.StatusTooManyRequests, RetryAfter: s}
	}
	failed := &clientapi.Error{Status: http.StatusBadGateway}
	disabled := &clientapi.Error{Status: http.StatusServiceUnavailable}
	for _, tc := range []struct {
		name string
		a, b *clientapi.Error
		want bool
	}{
		{"a limit over a failure", limited(60), failed, true},
		{"a failure under a limit", failed, limited(60), false},
		{"a failure over disabled keys", failed, disabled, true},
		{"disabled keys under a failure", disabled, failed, false},
		{"the sooner limit", limited(5), limited(30), true},
		{"not the later limit", limited(30), limited(5), false},
		{"the later failure", failed, &clientapi.Error{Status: http.StatusBadGateway}, true},
		{"a request error says least", &clientapi.Error{Status: http.StatusBadRequest}, disabled, false},
	} {
		if got := moreTelling(tc.a, tc.b); got != tc.want {
			t.Errorf("%s: moreTelling = %v", tc.name, got)
		}
	}
}
