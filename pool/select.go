package pool

import "math/bits"

// Key selection whose cost does not grow with the number of keys.
//
// Each upstream of a Pool is a group. A group keeps the weights of its
// eligible keys (enabled, healthy and under every limit for a request of no
// tokens) in a Fenwick tree, so a weighted pick is one random number and a
// descent of log2(n) steps, and it knows when each blocked key may become
// eligible again: a min-heap of wake-up times, checked at each Acquire.
//
// A key's eligibility changes in only two ways. Its own events (a start, an
// end, an upstream's verdict, an admin change, a reset) make the Pool
// re-examine it at once (slot.refresh, called for every Pool holding the
// key, so a reload's two Pools stay right). Time only ever frees a key: a
// start leaves the rolling minute, a day ends, a cooldown or an interval
// runs out. Each blocked key is examined again at the latest of those
// moments (its wake), which is exactly when it could admit again; a key
// blocked by its concurrency alone waits for a request's end instead.
//
// So the tree holds exactly the eligible keys. A pick is still checked
// exactly against the request's own token estimate; a key too full for it
// is set aside for this request only, and the pick repeats. After
// maxRejects such rejections in a tier (many keys nearly full of tokens and
// a large request), Acquire falls back to the scan of every key of the tier
// that the pool did before, which is exact by construction.

// maxRejects bounds the picks rejected in one tier before the fallback scan.
const maxRejects = 16

// cond is where a key stands for selection.
type cond uint8

const (
	condOff   cond = iota // disabled, by configuration or by health
	condIn                // eligible: its weight is in the tree
	condTimed             // blocked until its wake
	condEvent             // blocked by its concurrency alone, until a request ends
)

// slot is one key of one Pool: its spec (this config's view of the key),
// its shared runtime state, and its place in its upstream's group.
type slot struct {
	spec *KeySpec // replaced when the key changes, never changed: leases share it
	// first is the spec the key was placed with, where spec points until
	// a change: a key costs no object of its own for it.
	first KeySpec
	ks    *keyState
	pool  *Pool
	g     *group
	pos   int   // index in g.slots and in g.tree
	cond  cond  // guarded by the shared lock, like everything below
	w     int64 // the weight counted in g.tree while cond == condIn
	wake  int64 // unix ns of its valid heap entry while cond == condTimed
	dead  bool  // removed from the Pool (or the Pool closed)
}

// group is the keys of one upstream of a Pool.
type group struct {
	slots []*slot // by position; removed keys stay as dead slots until compaction
	tree  fenwick
	heap  []wake
	count [4]int // live slots by cond
	dead  int
}

// wake is a heap entry: examine s again at at. An entry whose at is no
// longer s.wake is stale and skipped.
type wake struct {
	at int64
	s  *slot
}

// add appends a new slot to the group; the caller refreshes it.
func (g *group) add(s *slot) {
	s.g, s.pos, s.cond, s.w = g, len(g.slots), condOff, 0
	g.slots = append(g.slots, s)
	g.tree.push(0)
	g.count[condOff]++
}

// remove takes s out of the group for good.
func (g *group) remove(s *slot) {
	if s.dead {
		return
	}
	s.set(condOff, 0)
	g.count[condOff]--
	s.dead = true
	g.dead++
	if g.dead > 64 && g.dead*2 > len(g.slots) {
		g.compact()
	}
}

// compact drops dead slots and rebuilds the tree and heap.
func (g *group) compact() {
	live := g.slots[:0]
	for _, s := range g.slots {
		if !s.dead {
			live = append(live, s)
		}
	}
	clear(g.slots[len(live):])
	g.slots, g.dead = live, 0
	g.tree = fenwick{}
	for i, s := range g.slots {
		s.pos = i
		w := int64(0)
		if s.cond == condIn {
			w = s.w
		}
		g.tree.push(w)
	}
	g.cleanHeap()
}

// set moves s to cond nc (with its wake at when nc is condTimed), keeping
// the tree, the counts and the heap in step.
func (s *slot) set(nc cond, at int64) {
	g := s.g
	w := int64(s.spec.Limits.Weight)
	switch {
	case s.cond != nc:
		g.count[s.cond]--
		g.count[nc]++
		if s.cond == condIn {
			g.tree.add(s.pos, -s.w)
		}
		if nc == condIn {
			s.w = w
			g.tree.add(s.pos, w)
		}
		s.cond = nc
	case nc == condIn && s.w != w:
		g.tree.add(s.pos, w-s.w)
		s.w = w
	}
	if nc != condTimed {
		s.wake = 0
		return
	}
	if s.wake != at {
		s.wake = at
		g.push(wake{at, s})
	}
}

// refresh re-examines s at c: whether it is eligible, and if not, until
// when. The caller holds the shared lock.
func (s *slot) refresh(c *clock) {
	if s.dead {
		return
	}
	ks := s.ks
	ks.sync(c)
	if s.spec.Disabled || ks.health == StateDisabled {
		s.set(condOff, 0)
		return
	}
	until, full := s.pool.block(s, c, 0)
	switch {
	case until > 0:
		s.set(condTimed, until)
	case full:
		s.set(condEvent, 0)
	default:
		s.set(condIn, 0)
	}
}

// touch re-examines every slot of ks, in every Pool that holds the key,
// after an event of the key. c is the clock of the Pool the event came
// through; another Pool reads the same instant in its own Location.
func (ks *keyState) touch(c *clock) {
	for _, s := range ks.slots {
		if s.pool.loc == c.loc {
			s.refresh(c)
		} else {
			oc := newClock(c.t, s.pool.loc)
			s.refresh(&oc)
		}
	}
}

// detach forgets s in its key's list of slots.
func (ks *keyState) detach(s *slot) {
	for i, o := range ks.slots {
		if o == s {
			last := len(ks.slots) - 1
			ks.slots[i] = ks.slots[last]
			ks.slots[last] = nil
			ks.slots = ks.slots[:last]
			return
		}
	}
}

// due re-examines the keys whose wake has come.
func (g *group) due(c *clock) {
	for len(g.heap) > 0 && g.heap[0].at <= c.now {
		e := g.pop()
		if e.s.dead || e.s.wake != e.at {
			continue
		}
		e.s.wake = 0
		e.s.refresh(c)
	}
}

// soonest is the earliest wake of a blocked key of the group that skip
// does not reject, or 0 when there is none. Stale entries met on the way
// are dropped.
func (g *group) soonest(skip func(*slot) bool) int64 {
	var held []wake
	defer func() {
		for _, e := range held {
			g.push(e)
		}
	}()
	for len(g.heap) > 0 {
		e := g.heap[0]
		if e.s.dead || e.s.wake != e.at {
			g.pop()
			continue
		}
		if skip != nil && skip(e.s) {
			held = append(held, g.pop())
			continue
		}
		return e.at
	}
	return 0
}

// pick returns the slot that the random number r (0 <= r < g.tree.sum)
// falls on, weighting each eligible slot by its weight.
func (g *group) pick(r int64) *slot { return g.slots[g.tree.find(r)] }

func (g *group) push(e wake) {
	if len(g.heap) > 2*g.count[condTimed]+64 {
		g.cleanHeap()
	}
	g.heap = append(g.heap, e)
	h := g.heap
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if h[p].at <= h[i].at {
			break
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
}

func (g *group) pop() wake {
	h := g.heap
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h[last] = wake{}
	g.heap = h[:last]
	g.siftDown(0)
	return top
}

func (g *group) siftDown(i int) {
	h := g.heap
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && h[r].at < h[l].at {
			m = r
		}
		if h[i].at <= h[m].at {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// cleanHeap drops stale entries and restores the heap order.
func (g *group) cleanHeap() {
	h := g.heap[:0]
	for _, e := range g.heap {
		if !e.s.dead && e.s.wake == e.at {
			h = append(h, e)
		}
	}
	clear(g.heap[len(h):])
	g.heap = h
	for i := len(h)/2 - 1; i >= 0; i-- {
		g.siftDown(i)
	}
}

// fenwick is a binary indexed tree over int64 weights: point updates,
// appends and weighted search in O(log n).
type fenwick struct {
	t   []int64 // 1-based; t[0] unused
	sum int64
}

func (f *fenwick) push(w int64) {
	if len(f.t) == 0 {
		f.t = append(f.t, 0)
	}
	i := len(f.t)
	// Node i sums (i-lowbit(i), i]: w plus the nodes that tile the rest.
	v := w
	for j := i - 1; j > i-(i&-i); j -= j & -j {
		v += f.t[j]
	}
	f.t = append(f.t, v)
	f.sum += w
}

// add adds d to the weight at index i (0-based).
func (f *fenwick) add(i int, d int64) {
	f.sum += d
	for i++; i < len(f.t); i += i & -i {
		f.t[i] += d
	}
}

// find is the index whose weight covers r: the least i with
// prefix(i+1) > r, for 0 <= r < sum.
func (f *fenwick) find(r int64) int {
	n := len(f.t) - 1
	pos := 0
	for step := 1 << (bits.Len(uint(n)) - 1); step > 0; step >>= 1 {
		if next := pos + step; next <= n && f.t[next] <= r {
			pos = next
			r -= f.t[next]
		}
	}
	return pos
}
