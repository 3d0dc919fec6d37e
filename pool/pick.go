package pool

import (
	"math/rand/v2"
)

// Pick chooses a healthy, enabled key of targets by weight without
// admitting a request on it: for calls that cost the upstream little and
// are not generations (token counting), so they neither count toward a
// key's limits nor wait for them. Tiers are honoured as in Acquire. It
// returns nil when no key is healthy.
func (p *Pool) Pick(targets []Target) *KeySpec {
	sh := p.sh
	sh.mu.Lock()
	defer sh.mu.Unlock()
	c := p.clock()
	tier, started := 0, false
	for {
		next, ok := 0, false
		for _, t := range targets {
			if (!started || t.Priority > tier) && (!ok || t.Priority < next) {
				next, ok = t.Priority, true
			}
		}
		if !ok {
			return nil
		}
		tier, started = next, true
		pick, total := -1, 0
		for j, t := range targets {
			if t.Priority != tier || listedBefore(targets, j) {
				continue
			}
			for _, i := range p.byUp[t.Upstream] {
				ks := p.states[i]
				ks.sync(&c)
				if p.specs[i].Disabled || ks.health != StateActive {
					continue
				}
				total += p.specs[i].Limits.Weight
				if rand.IntN(total) < p.specs[i].Limits.Weight {
					pick = i
				}
			}
		}
		if pick >= 0 {
			spec := p.specs[pick]
			return &spec
		}
	}
}
