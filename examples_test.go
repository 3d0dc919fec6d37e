package llmproxy

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExamples adapts every Caddyfile in examples/ (without warnings, so it is
// also formatted as `caddy fmt` would) and validates each llm_proxy handler in
// it. Caddy is not started, so no storage is opened.
func TestExamples(t *testing.T) {
	var files []string
	err := filepath.WalkDir("examples", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, "Caddyfile") {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no examples found")
	}
	for _, file := range files {
		t.Run(strings.TrimPrefix(file, "examples/"), func(t *testing.T) {
			body, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			cfg := adapt(t, file, body)
			handlers, _ := findHandlers(t, cfg, "llm_proxy")
			if len(handlers) == 0 && bytes.Contains(body, []byte("llm_proxy")) {
				t.Fatalf("no llm_proxy handler in %s", cfg)
			}
			for _, raw := range handlers {
				p := decodeProxy(t, raw)
				if err := p.Validate(); err != nil {
					t.Errorf("Validate: %v", err)
				}
			}
		})
	}
}
