package translate

import (
	"encoding/base64"
	"testing"
)

func TestEmbedBase64RoundTrip(t *testing.T) {
	// 1 and -0.5 as little-endian float32: 0000803f, 000000bf.
	s, ok := FloatsToBase64([]byte(`[1, -0.5]`))
	if want := base64.StdEncoding.EncodeToString([]byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0xbf}); !ok || s != want {
		t.Fatalf("FloatsToBase64 = %q %v, want %q", s, ok, want)
	}
	back, ok := Base64ToFloats(s)
	if !ok || string(back) != `[1,-0.5]` {
		t.Errorf("Base64ToFloats = %s %v", back, ok)
	}
	for _, bad := range []string{`[1,"x"]`, `{"a":1}`} {
		if _, ok := FloatsToBase64([]byte(bad)); ok {
			t.Errorf("FloatsToBase64(%s) accepted", bad)
		}
	}
	for _, bad := range []string{"not base64!", base64.StdEncoding.EncodeToString([]byte{1, 2, 3}),
		base64.StdEncoding.EncodeToString([]byte{0, 0, 0xc0, 0x7f})} { // a NaN
		if _, ok := Base64ToFloats(bad); ok {
			t.Errorf("Base64ToFloats(%q) accepted", bad)
		}
	}
}

func TestEstimateEmbedTokens(t *testing.T) {
	r := &EmbedRequest{Inputs: []EmbedInput{{Text: "abcdefgh"}, {Text: "a"}, {Tokens: []int64{1, 2, 3}}, {Parts: 1}}}
	// 2 + 1 + 3 + at least one for the image-only input.
	if got := EstimateEmbedTokens(r); got != 7 {
		t.Errorf("estimate %d, want 7", got)
	}
}
