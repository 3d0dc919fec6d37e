package pool

// Pick chooses a healthy, enabled key of targets by weight without
// admitting a request on it: for calls that cost the upstream little and
// are not generations (token counting), so they neither count toward a
// key's limits nor wait for them. Tiers are honoured as in Acquire. Keys
// under every limit are preferred (they are at hand, in the structure
// Acquire picks from); when a tier has none, any healthy key of it will do.
// It returns nil when no key is healthy.
func (p *Pool) Pick(targets []Target) *KeySpec {
	sh := p.sh
	sh.mu.Lock()
	defer sh.mu.Unlock()
	c := p.clock()
	tier, started := 0, false
	var gs [4]*group
	for {
		next, ok := nextTier(targets, tier, started)
		if !ok {
			return nil
		}
		tier, started = next, true
		groups := p.tierGroups(targets, tier, gs[:0], &c)
		if s := pickHealthy(groups, &c, nil); s != nil {
			spec := *s.spec
			return &spec
		}
	}
}

// pickHealthy picks by weight a key of groups not in tried that is under
// every limit, else (with a scan) any healthy one; nil when none is
// healthy. The caller holds the lock.
func pickHealthy(groups []*group, c *clock, tried map[string]bool) *slot {
	for range maxRejects {
		s := draw(groups)
		if s == nil {
			break
		}
		if tried[s.spec.ID] {
			break // rare: leave it to the scan
		}
		s.ks.sync(c)
		if !s.spec.Disabled && s.ks.health == StateActive {
			return s
		}
		s.refresh(c) // changed through another Pool
	}
	var r reservoir
	for _, g := range groups {
		for _, s := range g.slots {
			if s.dead || tried[s.spec.ID] {
				continue
			}
			s.ks.sync(c)
			if s.spec.Disabled || s.ks.health != StateActive {
				continue
			}
			r.offer(s)
		}
	}
	return r.pick
}
