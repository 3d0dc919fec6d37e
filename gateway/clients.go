package gateway

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/llmproxy/caddy-llm-proxy/admin"
	"github.com/llmproxy/caddy-llm-proxy/limits"
	"github.com/llmproxy/caddy-llm-proxy/pool"
)

// Named clients: who sends a request, what they may ask for, and their own
// limits (see package pool for how those are admitted with a key's).
//
// Clients come from the configuration (`client` blocks; plain client_key
// secrets are the client "default") and from the admin API. An admin-made
// client's secret is generated here, shown once, and kept only as its
// SHA-256 and its last 4 characters (for the masked view). The clients are
// one immutable table, replaced whole on every change (copy on write), so a
// request reads it with one atomic load and no lock.

// DefaultClient is the client of plain client_key secrets.
const DefaultClient = "default"

// Client is one configured named client.
type Client struct {
	Name     string
	Keys     []string   // secrets
	Models   []string   // patterns it may use; none = every model
	Limits   limits.Set // rpm, rpd, tpm, tpd, concurrency
	Note     string
	Disabled bool
}

// ClientNamePattern is what a client name may be: it appears in URLs,
// metric labels and store keys.
var ClientNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// clientEntry is one client as requests see it.
type clientEntry struct {
	name     string
	source   string // "config" or "admin"
	models   []string
	disabled bool
	note     string
	limits   limits.Set
	limiter  *pool.Client // nil: no limits of its own
	masked   []string
	sums     [][sha256.Size]byte
	created  time.Time
	// overrides names the settings of a Caddyfile client changed through
	// the API.
	overrides []string
	// use counts the requests of a client without limits (those with
	// limits are counted by the pool), shared by its successive entries.
	use *clientUse
}

// clientUse is what the admin API shows of a client without limits besides
// its usage statistics: requests in flight and in the last minute, kept
// with atomics only (no lock, no allocation per request).
type clientUse struct {
	inFlight atomic.Int64
	// secs counts requests by second, in a ring of 60 slots; each slot
	// holds the second it counts for, so a stale slot reads as empty.
	secs [60]struct{ at, n atomic.Int64 }
}

func (u *clientUse) start(now int64) {
	u.inFlight.Add(1)
	s := &u.secs[now%60]
	if at := s.at.Load(); at != now && s.at.CompareAndSwap(at, now) {
		s.n.Store(0)
	}
	s.n.Add(1)
}

func (u *clientUse) minute(now int64) int64 {
	var n int64
	for i := range u.secs {
		s := &u.secs[i]
		if at := s.at.Load(); now-at < 60 {
			n += s.n.Load()
		}
	}
	return n
}

// allows reports whether the client may use model: always when it lists
// no models, else when a pattern admits the name, or the name after an
// `<upstream>/` prefix.
func (ce *clientEntry) allows(model string, isUpstream func(string) bool) bool {
	if _, ok := AdmittedBy(ce.models, model); ok {
		return true
	}
	up, rest, ok := strings.Cut(model, "/")
	if !ok || !isUpstream(up) {
		return false
	}
	_, ok = AdmittedBy(ce.models, rest)
	return ok
}

// clientTable is every client of a gateway.
type clientTable struct {
	// bySum finds a client by the SHA-256 of a secret it presents.
	//
	// A map lookup is not a constant-time comparison, and need not be: what
	// its timing depends on is the digest of the presented secret, not how
	// much of a real secret it shares. Learning something of a digest (its
	// bucket, a prefix) gives no handle on a secret without inverting
	// SHA-256, so an attacker learns nothing usable, as with a
	// constant-time comparison of the secrets, and the lookup stays O(1)
	// however many clients there are.
	bySum  map[[sha256.Size]byte]*clientEntry
	byName map[string]*clientEntry
	order  []*clientEntry
}

// clientSettings are the settings of a Caddyfile client changed through the
// admin API, persisted as the overrides of keys are.
type clientSettings struct {
	Models   *[]string      `json:"models,omitempty"`
	Limits   limits.Partial `json:"limits"`
	Note     *string        `json:"note,omitempty"`
	Disabled *bool          `json:"disabled,omitempty"`
}

func (s clientSettings) names() []string {
	var out []string
	if s.Disabled != nil {
		out = append(out, "disabled")
	}
	if s.Models != nil {
		out = append(out, "models")
	}
	out = append(out, s.Limits.Names()...)
	if s.Note != nil {
		out = append(out, "note")
	}
	return out
}

func (s clientSettings) isZero() bool {
	return s.Models == nil && s.Limits.IsZero() && s.Note == nil && s.Disabled == nil
}

// configClients are the configured clients, the plain client_key secrets
// as the client "default" among them.
func (g *Gateway) configClients() []Client {
	out := slices.Clone(g.cfg.Clients)
	if len(g.cfg.ClientKeys) > 0 {
		i := slices.IndexFunc(out, func(c Client) bool { return c.Name == DefaultClient })
		if i < 0 {
			out = append([]Client{{Name: DefaultClient}}, out...)
			i = 0
		}
		out[i].Keys = append(slices.Clone(out[i].Keys), g.cfg.ClientKeys...)
	}
	return out
}

// buildClients makes the client table from the configuration, the clients
// saved through the admin API and the saved overrides of Caddyfile
// clients; old is the table before (nil at start), whose usage counters
// carry over. The caller holds adminMu (or is provisioning).
func (g *Gateway) buildClients(saved []pool.SavedClient, ovs map[string]clientSettings, old *clientTable) (*clientTable, error) {
	t := &clientTable{bySum: map[[sha256.Size]byte]*clientEntry{}, byName: map[string]*clientEntry{}}
	add := func(ce *clientEntry) {
		if prev := old.lookup(ce.name); prev != nil && prev.use != nil {
			ce.use = prev.use
		} else {
			ce.use = new(clientUse)
		}
		ce.limiter = g.pool.Client(ce.name, ce.limits)
		t.byName[ce.name] = ce
		t.order = append(t.order, ce)
	}
	for _, c := range g.configClients() {
		ce := &clientEntry{name: c.Name, source: "config", models: c.Models, disabled: c.Disabled, note: c.Note, limits: c.Limits}
		if ov, ok := ovs[c.Name]; ok && !ov.isZero() {
			if ov.Models != nil {
				ce.models = *ov.Models
			}
			ce.limits = ov.Limits.Apply(ce.limits)
			if ov.Note != nil {
				ce.note = *ov.Note
			}
			if ov.Disabled != nil {
				ce.disabled = *ov.Disabled
			}
			ce.overrides = ov.names()
		}
		for _, k := range c.Keys {
			sum := sha256.Sum256([]byte(k))
			if other := t.bySum[sum]; other == ce {
				continue
			} else if other != nil {
				return nil, fmt.Errorf("clients %q and %q share a secret", other.name, c.Name)
			}
			t.bySum[sum] = ce
			ce.sums = append(ce.sums, sum)
			ce.masked = append(ce.masked, maskSecret(k))
		}
		add(ce)
	}
	for _, sc := range saved {
		if t.byName[sc.Name] != nil {
			g.logger.Warn("a client made through the admin API has the name of a Caddyfile client; the Caddyfile's applies",
				zap.String("client", sc.Name))
			continue
		}
		raw, err := hex.DecodeString(sc.Hash)
		if err != nil || len(raw) != sha256.Size {
			g.logger.Warn("ignoring a saved client with an unreadable hash", zap.String("client", sc.Name))
			continue
		}
		sum := [sha256.Size]byte(raw)
		if t.bySum[sum] != nil {
			continue
		}
		created := sc.Created
		ce := &clientEntry{name: sc.Name, source: "admin", models: sc.Models, disabled: sc.Disabled, note: sc.Note,
			limits: sc.Limits, sums: [][sha256.Size]byte{sum}, masked: []string{secretPrefix + "…" + sc.Last4}, created: created}
		t.bySum[sum] = ce
		add(ce)
	}
	return t, nil
}

func (t *clientTable) lookup(name string) *clientEntry {
	if t == nil {
		return nil
	}
	return t.byName[name]
}

// secretPrefix begins every secret the admin API makes.
const secretPrefix = "llmp-"

// newSecret makes a client secret: secretPrefix and 32 characters of
// base64url (192 random bits).
func newSecret() (string, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return secretPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// loadClients reads the clients saved through the admin API and the
// overrides of Caddyfile clients, and installs the client table. The
// caller holds adminMu (or is provisioning).
func (g *Gateway) loadClients() error {
	saved, err := g.pool.SavedClients(g.name)
	if err != nil {
		if saved == nil && !errors.Is(err, pool.ErrStoreDown) {
			return fmt.Errorf("llm_proxy %q: loading clients made through the admin API: %w", g.name, err)
		}
		g.logger.Warn("reading the clients made through the admin API failed", zap.Error(err))
	}
	ovs, err := g.loadClientOverrides()
	if err != nil {
		g.logger.Warn("reading the client overrides failed", zap.Error(err))
	}
	t, err := g.buildClients(saved, ovs, g.clients.Load())
	if err != nil {
		return fmt.Errorf("llm_proxy %q: %w", g.name, err)
	}
	g.clients.Store(t)
	return nil
}

// clientsChanged reloads the clients after another instance changed them
// (shared storage).
func (g *Gateway) clientsChanged() {
	adminMu.Lock()
	defer adminMu.Unlock()
	if g.op.Load() == nil {
		return // still starting: it reads the store itself
	}
	if err := g.loadClients(); err != nil {
		g.logger.Warn("applying a client change made through another instance failed", zap.Error(err))
	}
}

// clientOverridePrefix is the store prefix of client overrides.
const clientOverridePrefix = "clientoverride"

func (g *Gateway) loadClientOverrides() (map[string]clientSettings, error) {
	recs, err := g.pool.SavedOverlays(clientOverridePrefix, g.name)
	out := make(map[string]clientSettings, len(recs))
	for name, b := range recs {
		var s clientSettings
		if json.Unmarshal(b, &s) == nil {
			out[name] = s
		}
	}
	return out, err
}

// clientView is a client as the admin API shows it. byStats is the usage
// of clients without limits, from the usage statistics (see statsUsage),
// computed once for a whole list.
func (g *Gateway) clientView(ce *clientEntry, byStats func() map[string]admin.KeyUsage) admin.Client {
	v := admin.Client{
		Name: ce.name, Keys: slices.Clone(ce.masked), Models: slices.Clone(ce.models),
		Limits: ce.limits.Caps(), State: "active", Source: ce.source, Note: ce.note,
		Overrides: ce.overrides,
	}
	if v.Keys == nil {
		v.Keys = []string{}
	}
	if v.Models == nil {
		v.Models = []string{}
	}
	if ce.disabled {
		v.State = "disabled"
	}
	if !ce.created.IsZero() {
		t := ce.created
		v.Created = &t
	}
	if u, ok := g.pool.ClientUsage(ce.limiter); ok {
		v.Usage = admin.KeyUsage{Minute: u.Minute, Day: u.Day, Total: u.Total, TokensDay: u.TokensDay,
			TokensTotal: u.TokensTotal, InFlight: u.InFlight}
		return v
	}
	// Without limits of its own: from the usage statistics, and this
	// instance's own counters for the last minute and what is in flight.
	v.Usage = byStats()[ce.name]
	if ce.use != nil {
		now := time.Now().Unix()
		v.Usage.Minute, v.Usage.InFlight = ce.use.minute(now), int(ce.use.inFlight.Load())
	}
	return v
}

// statsUsage returns a function that sums, once, the usage statistics by
// client: requests and tokens today and in the statistics' retention.
func (g *Gateway) statsUsage() func() map[string]admin.KeyUsage {
	var out map[string]admin.KeyUsage
	return func() map[string]admin.KeyUsage {
		if out != nil {
			return out
		}
		out = map[string]admin.KeyUsage{}
		today := time.Now().In(g.loc).Format(time.DateOnly)
		for _, r := range g.op.Load().stats.Rows() {
			u := out[r.Client]
			u.Total += r.Requests
			u.TokensTotal += r.InputTokens + r.OutputTokens
			if r.Hour[:10] == today {
				u.Day += r.Requests
				u.TokensDay += r.InputTokens + r.OutputTokens
			}
			out[r.Client] = u
		}
		return out
	}
}

func (a adminInstance) Clients() []admin.Client {
	t := a.g.clients.Load()
	out := make([]admin.Client, 0, len(t.order))
	byStats := a.g.statsUsage()
	for _, ce := range t.order {
		out = append(out, a.g.clientView(ce, byStats))
	}
	return out
}

func (a adminInstance) Client(name string) (admin.Client, error) {
	ce := a.g.clients.Load().lookup(name)
	if ce == nil {
		return admin.Client{}, admin.ClientNotFound(name)
	}
	return a.g.clientView(ce, a.g.statsUsage()), nil
}

// checkClientLimits refuses the limits a client cannot have.
func checkClientLimits(l limits.Set) error {
	if l.Weight > 1 || l.Interval != 0 {
		return fmt.Errorf("a client has no weight or interval; its limits are %s", strings.Join(admin.ClientLimitNames, ", "))
	}
	return l.Check()
}

func (a adminInstance) AddClient(nc admin.NewClient) (admin.ClientSecret, error) {
	g := a.g
	if !ClientNamePattern.MatchString(nc.Name) {
		return admin.ClientSecret{}, admin.Errorf(http.StatusBadRequest,
			"bad client name %q: up to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", truncate(nc.Name, maxEcho))
	}
	l := nc.Limits.Apply(limits.Set{})
	if err := checkClientLimits(l); err != nil {
		return admin.ClientSecret{}, admin.Errorf(http.StatusBadRequest, "%v", err)
	}
	if err := checkModels(nc.Models); err != nil {
		return admin.ClientSecret{}, admin.Errorf(http.StatusBadRequest, "%v", err)
	}
	adminMu.Lock()
	defer adminMu.Unlock()
	if g.clients.Load().lookup(nc.Name) != nil {
		return admin.ClientSecret{}, admin.Errorf(http.StatusConflict, "a client named %q already exists", nc.Name)
	}
	secret, err := newSecret()
	if err != nil {
		return admin.ClientSecret{}, fmt.Errorf("making a secret: %w", err)
	}
	sum := sha256.Sum256([]byte(secret))
	sc := pool.SavedClient{Name: nc.Name, Hash: hex.EncodeToString(sum[:]), Last4: secret[len(secret)-4:],
		Models: nc.Models, Limits: l, Note: nc.Note, Disabled: nc.Disabled, Created: time.Now().UTC()}
	if err := g.pool.SaveClient(g.name, sc); err != nil {
		return admin.ClientSecret{}, fmt.Errorf("saving the client: %w", err)
	}
	if err := g.loadClients(); err != nil {
		return admin.ClientSecret{}, err
	}
	// Counters left by a client of the same name deleted before are not
	// this one's.
	if ce := g.clients.Load().lookup(nc.Name); ce != nil {
		if err := g.pool.ResetClient(ce.limiter); err != nil {
			g.logger.Warn("zeroing the counters of a new client failed", zap.String("client", nc.Name), zap.Error(err))
		}
	}
	g.logger.Info("client made through the admin API", zap.String("client", nc.Name))
	return admin.ClientSecret{Name: nc.Name, Key: secret}, nil
}

// checkModels refuses empty model patterns.
func checkModels(models []string) error {
	for _, m := range models {
		if strings.TrimSpace(m) == "" {
			return fmt.Errorf("models: an empty model pattern")
		}
	}
	return nil
}

// savedClient is the saved record of admin-made client name.
func (g *Gateway) savedClient(name string) (pool.SavedClient, bool, error) {
	list, err := g.pool.SavedClients(g.name)
	if err != nil && list == nil {
		return pool.SavedClient{}, false, err
	}
	for _, sc := range list {
		if sc.Name == name {
			return sc, true, nil
		}
	}
	return pool.SavedClient{}, false, nil
}

func (a adminInstance) UpdateClient(name string, p admin.ClientPatch) (admin.Client, error) {
	g := a.g
	if p.Models != nil {
		if err := checkModels(*p.Models); err != nil {
			return admin.Client{}, admin.Errorf(http.StatusBadRequest, "%v", err)
		}
	}
	adminMu.Lock()
	ce := g.clients.Load().lookup(name)
	if ce == nil {
		adminMu.Unlock()
		return admin.Client{}, admin.ClientNotFound(name)
	}
	var err error
	if ce.source == "admin" {
		err = g.patchSavedClient(name, p)
	} else {
		err = g.patchConfigClient(name, p)
	}
	if err == nil {
		err = g.loadClients()
	}
	adminMu.Unlock()
	if err != nil {
		return admin.Client{}, err
	}
	g.logger.Info("client changed through the admin API", zap.String("client", name))
	return a.Client(name)
}

// patchSavedClient applies p to an admin-made client's record; the caller
// holds adminMu.
func (g *Gateway) patchSavedClient(name string, p admin.ClientPatch) error {
	sc, ok, err := g.savedClient(name)
	if err != nil {
		return fmt.Errorf("reading the client: %w", err)
	}
	if !ok {
		return admin.ClientNotFound(name)
	}
	for _, f := range p.Revert {
		switch f {
		case "disabled":
			sc.Disabled = false
		case "note":
			sc.Note = ""
		case "models":
			sc.Models = nil
		default:
			if d := limits.Lookup(f); d != nil {
				d.Put(&sc.Limits, 0)
			}
		}
	}
	if p.Disabled != nil {
		sc.Disabled = *p.Disabled
	}
	if p.Note != nil {
		sc.Note = *p.Note
	}
	if p.Models != nil {
		sc.Models = *p.Models
	}
	sc.Limits = p.Limits.Apply(sc.Limits)
	if err := checkClientLimits(sc.Limits); err != nil {
		return admin.Errorf(http.StatusBadRequest, "%v", err)
	}
	return g.pool.SaveClient(g.name, sc)
}

// patchConfigClient saves p as an override of a Caddyfile client; the
// caller holds adminMu.
func (g *Gateway) patchConfigClient(name string, p admin.ClientPatch) error {
	ovs, err := g.loadClientOverrides()
	if err != nil && ovs == nil {
		return err
	}
	ov := ovs[name]
	for _, f := range p.Revert {
		switch f {
		case "disabled":
			ov.Disabled = nil
		case "note":
			ov.Note = nil
		case "models":
			ov.Models = nil
		default:
			if d := limits.Lookup(f); d != nil {
				ov.Limits.Clear(d)
			}
		}
	}
	if p.Disabled != nil {
		ov.Disabled = p.Disabled
	}
	if p.Note != nil {
		ov.Note = p.Note
	}
	if p.Models != nil {
		ov.Models = p.Models
	}
	ov.Limits = ov.Limits.Merge(p.Limits)
	var base limits.Set
	for _, c := range g.configClients() {
		if c.Name == name {
			base = c.Limits
		}
	}
	if err := checkClientLimits(ov.Limits.Apply(base)); err != nil {
		return admin.Errorf(http.StatusBadRequest, "%v", err)
	}
	var b []byte
	if !ov.isZero() {
		if b, err = json.Marshal(ov); err != nil {
			return err
		}
	}
	return g.pool.SaveOverlay(clientOverridePrefix, g.name, name, b, "clients")
}

func (a adminInstance) DeleteClient(name string) error {
	g := a.g
	adminMu.Lock()
	defer adminMu.Unlock()
	ce := g.clients.Load().lookup(name)
	if ce == nil {
		return admin.ClientNotFound(name)
	}
	if ce.source != "admin" {
		return admin.Errorf(http.StatusConflict,
			`client %q comes from the Caddyfile: remove it there, or disable it with PATCH {"disabled":true}`, name)
	}
	if err := g.pool.DeleteSavedClient(g.name, name); err != nil {
		return fmt.Errorf("deleting the client: %w", err)
	}
	if err := g.loadClients(); err != nil {
		return err
	}
	g.logger.Info("client deleted through the admin API", zap.String("client", name))
	return nil
}

func (a adminInstance) RotateClient(name string) (admin.ClientSecret, error) {
	g := a.g
	adminMu.Lock()
	defer adminMu.Unlock()
	ce := g.clients.Load().lookup(name)
	if ce == nil {
		return admin.ClientSecret{}, admin.ClientNotFound(name)
	}
	if ce.source != "admin" {
		return admin.ClientSecret{}, admin.Errorf(http.StatusConflict,
			"client %q comes from the Caddyfile: change its secrets there", name)
	}
	sc, ok, err := g.savedClient(name)
	if err != nil {
		return admin.ClientSecret{}, fmt.Errorf("reading the client: %w", err)
	}
	if !ok {
		return admin.ClientSecret{}, admin.ClientNotFound(name)
	}
	secret, err := newSecret()
	if err != nil {
		return admin.ClientSecret{}, fmt.Errorf("making a secret: %w", err)
	}
	sum := sha256.Sum256([]byte(secret))
	sc.Hash, sc.Last4, sc.Rotated = hex.EncodeToString(sum[:]), secret[len(secret)-4:], time.Now().UTC()
	if err := g.pool.SaveClient(g.name, sc); err != nil {
		return admin.ClientSecret{}, fmt.Errorf("saving the client: %w", err)
	}
	// The new table holds only the new secret's hash: the old secret stops
	// working with this store, before the answer goes out.
	if err := g.loadClients(); err != nil {
		return admin.ClientSecret{}, err
	}
	g.logger.Info("client secret rotated through the admin API", zap.String("client", name))
	return admin.ClientSecret{Name: name, Key: secret}, nil
}

// Interface guards
var _ admin.ClientAdmin = adminInstance{}

// limitText lists the client's limits, "rpm 7, concurrency 2", for the
// 429 that its own limits cause.
func (ce *clientEntry) limitText() string {
	if ce == nil {
		return ""
	}
	var parts []string
	for _, n := range admin.ClientLimitNames {
		if d := limits.Lookup(n); d != nil {
			if v := d.Get(ce.limits); v > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", n, v))
			}
		}
	}
	return strings.Join(parts, ", ")
}
