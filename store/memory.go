package store

import (
	"strings"
	"sync"
)

// NewMemory returns a Store that keeps records in memory only: nothing
// survives the process, which suits tests and throwaway setups.
func NewMemory() Store {
	return &memory{m: make(map[string][]byte)}
}

type memory struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *memory) Load(prefix string) (map[string][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]byte)
	for k, v := range s.m {
		if strings.HasPrefix(k, prefix) {
			out[k] = append([]byte(nil), v...)
		}
	}
	return out, nil
}

func (s *memory) Save(batch map[string][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range batch {
		if v == nil {
			delete(s.m, k)
		} else {
			s.m[k] = append([]byte(nil), v...)
		}
	}
	return nil
}

func (s *memory) Close() error { return nil }
