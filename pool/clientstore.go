package pool

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/llmproxy/caddy-llm-proxy/limits"
)

// savedClientPrefix is the Store prefix of clients made through the admin
// API, followed by the instance's name and a slash.
const savedClientPrefix = "admin/client/"

// SavedClient is a client made through the admin API, as persisted. Its
// secret is never stored: only its SHA-256 (to recognize it) and its last
// four characters (to show it masked).
type SavedClient struct {
	Name     string     `json:"name"`
	Hash     string     `json:"hash"` // hex SHA-256 of the secret
	Last4    string     `json:"last4"`
	Models   []string   `json:"models,omitempty"`
	Limits   limits.Set `json:"limits"`
	Note     string     `json:"note,omitempty"`
	Disabled bool       `json:"disabled,omitempty"`
	Created  time.Time  `json:"created"`
	Rotated  time.Time  `json:"rotated,omitzero"`
}

// SavedClients returns the clients saved for instance, oldest first.
func (p *Pool) SavedClients(instance string) ([]SavedClient, error) {
	prefix := savedClientPrefix + instance + "/"
	recs, err := p.sh.store.Load(prefix)
	if err != nil {
		return nil, err
	}
	out := make([]SavedClient, 0, len(recs))
	var bad []string
	for k, v := range recs {
		var c SavedClient
		if err := json.Unmarshal(v, &c); err != nil || c.Name == "" || c.Hash == "" {
			bad = append(bad, strings.TrimPrefix(k, prefix))
			continue
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].Name < out[j].Name
	})
	if len(bad) > 0 {
		sort.Strings(bad)
		return out, fmt.Errorf("unreadable saved clients: %s", strings.Join(bad, ", "))
	}
	return out, nil
}

// SaveClient persists client c of instance and tells the other instances
// on shared storage.
func (p *Pool) SaveClient(instance string, c SavedClient) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := p.sh.store.Save(map[string][]byte{savedClientPrefix + instance + "/" + c.Name: b}); err != nil {
		return err
	}
	p.publish("clients", []string{c.Name})
	return nil
}

// DeleteSavedClient forgets client name of instance.
func (p *Pool) DeleteSavedClient(instance, name string) error {
	if err := p.sh.store.Save(map[string][]byte{savedClientPrefix + instance + "/" + name: nil}); err != nil {
		return err
	}
	p.publish("clients", []string{name})
	return nil
}

// SavedOverlays returns the records "admin/<kind>/<instance>/<name>" by
// name: settings the admin API saved over configured things (the overrides
// of Caddyfile clients).
func (p *Pool) SavedOverlays(kind, instance string) (map[string][]byte, error) {
	prefix := "admin/" + kind + "/" + instance + "/"
	recs, err := p.sh.store.Load(prefix)
	out := make(map[string][]byte, len(recs))
	for k, v := range recs {
		out[strings.TrimPrefix(k, prefix)] = v
	}
	return out, err
}

// SaveOverlay saves (b nil: deletes) the record of SavedOverlays, and
// publishes a change of publish ("clients") to the other instances.
func (p *Pool) SaveOverlay(kind, instance, name string, b []byte, publish string) error {
	if err := p.sh.store.Save(map[string][]byte{"admin/" + kind + "/" + instance + "/" + name: b}); err != nil {
		return err
	}
	p.publish(publish, []string{name})
	return nil
}
