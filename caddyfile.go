package llmproxy

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/llmproxy/caddy-llm-proxy/limits"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("llm_proxy", parseCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("llm_proxy", httpcaddyfile.Before, "reverse_proxy")
}

// parseCaddyfile sets up the handler from the llm_proxy directive.
func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	p := new(Proxy)
	if err := p.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	return p, nil
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	llm_proxy [<matcher>] {
//		name           <instance>
//		client_key     <secret...>
//		client <name> [{
//			key         <secret...>
//			models      <pattern...>
//			rpm | rpd | tpm | tpd | concurrency <n>
//			note        <text>
//			disabled
//		}]
//		storage        badger [<dir>] | memory | redis <url> [{ prefix <s>; on_error closed|open }]
//		retries        <n>
//		timeout        <duration>
//		max_body       <size>
//		timezone       <IANA zone>
//		log_size       <n>
//		probe_interval <duration>
//		fallback       <model> <next...>
//		affinity       <duration>
//
//		upstream <name> {
//			provider      openai | anthropic | gemini
//			base_url      <url>
//			key <secret> [{
//				<limit>     <value>
//				base_url    <url>
//				proxy       <url>
//				header      <name> <value>
//				note        <text>
//				disabled
//			}]
//			<limit>       <value>
//			models        <pattern...>
//			alias         <name> <upstream-model> [{
//				reasoning         <level>
//				system_prompt     <text>
//				max_output_tokens <n>
//			}]
//			priority      <n>
//			header        <name> <value>
//			proxy         <url>
//			reasoning     auto | off | minimal | low | medium | high | <budget tokens>
//			system_prompt <text>
//			max_output_tokens <n>
//		}
//	}
//
// client_key, client, fallback, upstream, key, models, alias and header
// may be repeated (a client's key and models too); every other option may
// be given once per block. At least one upstream is required, and each
// upstream needs a provider and at least one key. A <limit> is any name of
// package limits' table (weight, rpm, ...), and its value must be
// positive; set on the upstream, it is the default of its keys. Several
// upstreams may declare the same alias (each with its own target); within
// one upstream an alias is declared once. A model has at most one fallback
// line, and fallbacks must name models some upstream serves, without
// cycles (see checkFallbacks). Texts with spaces (note, system_prompt)
// must be quoted. Placeholders such as {env.OPENAI_API_KEY} are kept as
// written and expanded at provision time.
func (p *Proxy) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume directive name
	directive := d.Token()
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := make(map[string]bool)
	fallbackToks := map[string]caddyfile.Token{} // where each fallback line is, for errors
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		switch opt {
		case "upstream":
			u, err := p.unmarshalUpstream(d)
			if err != nil {
				return err
			}
			p.Upstreams = append(p.Upstreams, u)
			continue
		case "fallback":
			tok := d.Token()
			args, err := argsAtLeast(d, 2)
			if err != nil {
				return err
			}
			if _, ok := p.Fallbacks[args[0]]; ok {
				return errAt(tok, "duplicate fallback for model %q", args[0])
			}
			if err := checkFallbackLine(args[0], args[1:]); err != nil {
				return errAt(tok, "%v", err)
			}
			if p.Fallbacks == nil {
				p.Fallbacks = make(map[string][]string)
			}
			p.Fallbacks[args[0]] = args[1:]
			fallbackToks[args[0]] = tok
			continue
		case "client":
			c, err := unmarshalClient(d)
			if err != nil {
				return err
			}
			p.Clients = append(p.Clients, c)
			continue
		case "client_key":
		case "name", "storage", "retries", "timeout", "idle_timeout", "keepalive", "max_body", "max_answer",
			"timezone", "log_size", "probe_interval", "affinity":
			if seen[opt] {
				return d.Errf("duplicate option %q", opt)
			}
			seen[opt] = true
		default:
			return d.Errf("unrecognized subdirective %q", opt)
		}
		if err := p.unmarshalOption(d, opt); err != nil {
			return err
		}
	}
	if len(p.Upstreams) == 0 {
		return errAt(directive, "%v", errNoUpstream)
	}
	if model, err := checkFallbacks(p.Fallbacks, p.Upstreams); err != nil {
		return errAt(fallbackToks[model], "%v", err)
	}
	return nil
}

// unmarshalOption parses one top-level option other than upstream; the
// cursor is on its name.
func (p *Proxy) unmarshalOption(d *caddyfile.Dispenser, opt string) error {
	if opt == "client_key" {
		keys, err := argsAtLeast(d, 1)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if k == "" {
				return d.Errf("client_key: %v", errEmptySecret)
			}
		}
		p.ClientKeys = append(p.ClientKeys, keys...)
		return nil
	}
	if opt == "storage" {
		s, err := unmarshalStorage(d)
		if err != nil {
			return err
		}
		p.Storage = s
		return nil
	}

	val, err := oneArg(d)
	if err != nil {
		return err
	}
	switch opt {
	case "name":
		err = checkName("instance", val)
		p.Name = val
	case "retries":
		var n int64
		n, err = strconv.ParseInt(val, 10, 32)
		if err != nil || n < 0 {
			return d.Errf("retries must be a non-negative integer, got %q", val)
		}
		r := int(n)
		p.Retries = &r
	case "timeout":
		p.Timeout, err = parseDuration(opt, val)
	case "idle_timeout":
		p.IdleTimeout, err = parseDuration(opt, val)
	case "keepalive":
		// 0 turns the comments off.
		var k caddy.Duration
		if val != "0" {
			k, err = parseDuration(opt, val)
		}
		p.Keepalive = &k
	case "probe_interval":
		p.ProbeInterval, err = parseDuration(opt, val)
	case "affinity":
		p.Affinity, err = parseDuration(opt, val)
	case "max_body":
		p.MaxBody, err = parseSize(opt, val)
	case "max_answer":
		p.MaxAnswer, err = parseSize(opt, val)
	case "timezone":
		err = checkTimezone(val)
		p.Timezone = val
	case "log_size":
		var n int64
		n, err = parsePositive(opt, val, 32)
		p.LogSize = int(n)
	}
	if err != nil {
		return d.WrapErr(err)
	}
	return nil
}

// unmarshalStorage parses the storage option; the cursor is on "storage".
//
//	storage badger [<dir>]
//	storage memory
//	storage redis <url> [{
//		prefix   <string>
//		on_error closed | open
//	}]
func unmarshalStorage(d *caddyfile.Dispenser) (*Storage, error) {
	if !d.NextArg() {
		return nil, d.ArgErr()
	}
	s := &Storage{Type: d.Val()}
	if s.Type != storageRedis {
		d.Prev()
		args, err := argsAtLeast(d, 1)
		if err != nil {
			return nil, err
		}
		switch {
		case s.Type == storageBadger && len(args) <= 2:
			if len(args) == 2 {
				s.Dir = args[1]
			}
		case s.Type == storageMemory && len(args) == 1:
		case s.Type == storageBadger || s.Type == storageMemory:
			return nil, d.ArgErr()
		default:
			return nil, d.WrapErr(checkStorageType(s.Type))
		}
		return s, nil
	}
	if !d.NextArg() {
		return nil, d.Errf("storage redis needs a URL: redis://[user:password@]host[:port][/db] or rediss://...")
	}
	s.URL = d.Val()
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	if !hasPlaceholder(s.URL) {
		if err := checkRedisURL(s.URL); err != nil {
			return nil, d.WrapErr(err)
		}
	}
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		if opt != "prefix" && opt != "on_error" {
			return nil, d.Errf("unrecognized storage redis option %q; want prefix or on_error", opt)
		}
		if seen[opt] {
			return nil, d.Errf("duplicate option %q", opt)
		}
		seen[opt] = true
		val, err := oneArg(d)
		if err != nil {
			return nil, err
		}
		if opt == "prefix" {
			if val == "" {
				return nil, d.Errf("prefix must not be empty")
			}
			s.Prefix = val
			continue
		}
		if err := checkOnError(val); err != nil {
			return nil, d.WrapErr(err)
		}
		s.OnError = val
	}
	return s, nil
}

// unmarshalUpstream parses an upstream block; the cursor is on "upstream".
func (p *Proxy) unmarshalUpstream(d *caddyfile.Dispenser) (*Upstream, error) {
	start := d.Token()
	if !d.NextArg() {
		return nil, d.ArgErr()
	}
	u := &Upstream{Name: d.Val()}
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	if err := checkName("upstream", u.Name); err != nil {
		return nil, d.WrapErr(err)
	}
	for _, o := range p.Upstreams {
		if o.Name == u.Name {
			return nil, d.Errf("duplicate upstream name %q", u.Name)
		}
	}

	seen := make(map[string]bool)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		switch {
		case opt == "key" || opt == "models" || opt == "alias" || opt == "header":
		case limits.Lookup(opt) != nil || opt == "provider" || opt == "base_url" || opt == "priority" ||
			opt == "proxy" || opt == "reasoning" || opt == "system_prompt" || opt == "max_output_tokens":
			if seen[opt] {
				return nil, d.Errf("duplicate upstream option %q", opt)
			}
			seen[opt] = true
		default:
			return nil, d.Errf("unrecognized upstream option %q", opt)
		}
		if err := u.unmarshalOption(d, opt); err != nil {
			return nil, err
		}
	}

	if err := checkProvider(u.Provider); err != nil {
		return nil, errAt(start, "upstream %q: %v", u.Name, err)
	}
	if len(u.Keys) == 0 {
		return nil, errAt(start, "upstream %q: %v", u.Name, errNoKey)
	}
	return u, nil
}

// unmarshalOption parses one upstream option; the cursor is on its name.
func (u *Upstream) unmarshalOption(d *caddyfile.Dispenser, opt string) error {
	switch opt {
	case "key":
		k, tok, err := unmarshalKey(d)
		if err != nil {
			return err
		}
		if j := sameSecret(u.Keys, k.Key); j > 0 {
			return errAt(tok, "key %d: same secret as key %d", len(u.Keys)+1, j)
		}
		u.Keys = append(u.Keys, k)
		return nil
	case "models":
		models, err := argsAtLeast(d, 1)
		if err != nil {
			return err
		}
		for _, m := range models {
			if err := checkModelPattern(m); err != nil {
				return d.WrapErr(err)
			}
		}
		u.Models = append(u.Models, models...)
		return nil
	case "alias":
		return u.unmarshalAlias(d)
	case "header":
		args, err := argsExactly(d, 2)
		if err != nil {
			return err
		}
		name, val := args[0], args[1]
		if err := checkHeader(name, val); err != nil {
			return d.WrapErr(err)
		}
		for h := range u.Headers {
			if strings.EqualFold(h, name) {
				return d.Errf("duplicate header %q (header names are case-insensitive)", name)
			}
		}
		if u.Headers == nil {
			u.Headers = make(map[string]string)
		}
		u.Headers[name] = val
		return nil
	case "system_prompt":
		s, err := textArg(d)
		u.SystemPrompt = s
		return err
	}

	val, err := oneArg(d)
	if err != nil {
		return err
	}
	switch opt {
	case "provider":
		err = checkProvider(val)
		u.Provider = val
	case "base_url":
		if !hasPlaceholder(val) {
			err = checkBaseURL(val)
		}
		u.BaseURL = val
	case "priority":
		n, perr := strconv.ParseInt(val, 10, 32)
		if perr != nil {
			err = fmt.Errorf("priority must be an integer, got %q", val)
		}
		u.Priority = int(n)
	case "proxy":
		if !hasPlaceholder(val) {
			err = checkProxyURL(val)
		}
		u.Proxy = val
	case "reasoning":
		err = checkReasoning(val)
		u.Reasoning = val
	case "max_output_tokens":
		var n int64
		n, err = parsePositive(opt, val, 32)
		u.MaxOutputTokens = int(n)
	default: // a limit
		err = u.Defaults.ParseOption(opt, val)
	}
	if err != nil {
		return d.WrapErr(err)
	}
	return nil
}

// unmarshalAlias parses `alias <name> <upstream-model> [{...}]`; the cursor
// is on "alias".
func (u *Upstream) unmarshalAlias(d *caddyfile.Dispenser) error {
	var args []string
	for d.NextArg() {
		args = append(args, d.Val())
	}
	if len(args) != 2 {
		return d.ArgErr()
	}
	name := args[0]
	a := Alias{Model: args[1]}
	if err := checkAlias(name, a.Model); err != nil {
		return d.WrapErr(err)
	}
	if _, ok := u.Aliases[name]; ok {
		return d.Errf("duplicate alias %q", name)
	}
	seen := make(map[string]bool)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		if opt != "reasoning" && opt != "system_prompt" && opt != "max_output_tokens" {
			return d.Errf("unrecognized alias option %q; want reasoning, system_prompt or max_output_tokens", opt)
		}
		if seen[opt] {
			return d.Errf("duplicate alias option %q", opt)
		}
		seen[opt] = true
		if opt == "system_prompt" {
			s, err := textArg(d)
			if err != nil {
				return err
			}
			if s == "" {
				return d.Errf("alias %q: empty system_prompt", name)
			}
			a.SystemPrompt = s
			continue
		}
		val, err := oneArg(d)
		if err != nil {
			return err
		}
		if opt == "reasoning" {
			err = checkReasoning(val)
			a.Reasoning = val
		} else {
			var n int64
			n, err = parsePositive(opt, val, 32)
			a.MaxOutputTokens = int(n)
		}
		if err != nil {
			return d.Errf("alias %q: %v", name, err)
		}
	}
	if u.Aliases == nil {
		u.Aliases = make(Aliases)
	}
	u.Aliases[name] = a
	return nil
}

// unmarshalKey parses `key <secret> [{...}]`; the cursor is on "key". It
// returns the key and the token of its secret, for later errors.
func unmarshalKey(d *caddyfile.Dispenser) (*Key, caddyfile.Token, error) {
	if !d.NextArg() {
		return nil, caddyfile.Token{}, d.ArgErr()
	}
	tok := d.Token()
	k := &Key{Key: d.Val()}
	if d.NextArg() {
		return nil, tok, d.ArgErr()
	}
	if k.Key == "" {
		return nil, tok, d.Errf("key: %v", errEmptySecret)
	}
	seen := make(map[string]bool)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		if limits.Lookup(opt) == nil && opt != "note" && opt != "disabled" &&
			opt != "base_url" && opt != "proxy" && opt != "header" {
			return nil, tok, d.Errf("unrecognized key option %q", opt)
		}
		if seen[opt] && opt != "header" {
			return nil, tok, d.Errf("duplicate key option %q", opt)
		}
		seen[opt] = true
		switch opt {
		case "header":
			args, err := argsExactly(d, 2)
			if err != nil {
				return nil, tok, err
			}
			if err := checkHeader(args[0], args[1]); err != nil {
				return nil, tok, d.WrapErr(err)
			}
			for h := range k.Headers {
				if strings.EqualFold(h, args[0]) {
					return nil, tok, d.Errf("duplicate header %q (header names are case-insensitive)", args[0])
				}
			}
			if k.Headers == nil {
				k.Headers = make(map[string]string)
			}
			k.Headers[args[0]] = args[1]
		case "base_url", "proxy":
			val, err := oneArg(d)
			if err != nil {
				return nil, tok, err
			}
			if opt == "base_url" {
				if !hasPlaceholder(val) {
					err = checkBaseURL(val)
				}
				k.BaseURL = val
			} else {
				if !hasPlaceholder(val) {
					err = checkProxyURL(val)
				}
				k.Proxy = val
			}
			if err != nil {
				return nil, tok, d.WrapErr(err)
			}
		case "disabled":
			if _, err := argsExactly(d, 0); err != nil {
				return nil, tok, err
			}
			k.Disabled = true
		case "note":
			s, err := textArg(d)
			if err != nil {
				return nil, tok, err
			}
			k.Note = s
		default:
			val, err := oneArg(d)
			if err != nil {
				return nil, tok, err
			}
			if err := k.Limits.ParseOption(opt, val); err != nil {
				return nil, tok, d.WrapErr(err)
			}
		}
	}
	return k, tok, nil
}

// argsExactly reads exactly n arguments of the option under the cursor,
// which takes no block.
func argsExactly(d *caddyfile.Dispenser, n int) ([]string, error) {
	args, err := argsAtLeast(d, n)
	if err == nil && len(args) > n {
		return nil, d.ArgErr()
	}
	return args, err
}

// argsAtLeast reads the arguments (at least n) of the option under the
// cursor, which takes no block.
func argsAtLeast(d *caddyfile.Dispenser, n int) ([]string, error) {
	opt := d.Val()
	var args []string
	for d.NextArg() {
		args = append(args, d.Val())
	}
	if len(args) < n {
		return nil, d.ArgErr()
	}
	if err := noBlock(d, opt); err != nil {
		return nil, err
	}
	return args, nil
}

// oneArg reads the single argument of the option under the cursor.
func oneArg(d *caddyfile.Dispenser) (string, error) {
	args, err := argsExactly(d, 1)
	if err != nil {
		return "", err
	}
	return args[0], nil
}

// textArg reads the single free-text argument of the option under the
// cursor, with a hint when the text was not quoted.
func textArg(d *caddyfile.Dispenser) (string, error) {
	opt := d.Val()
	args, err := argsAtLeast(d, 1)
	if err != nil {
		return "", err
	}
	if len(args) > 1 {
		return "", d.Errf("%s takes one argument; quote text that contains spaces", opt)
	}
	return args[0], nil
}

// noBlock fails if a block opens after the arguments of opt, which takes none.
func noBlock(d *caddyfile.Dispenser, opt string) error {
	file, line := d.File(), d.Line()
	if !d.Next() {
		return nil
	}
	if d.Val() == "{" && d.File() == file && d.Line() == line {
		return d.Errf("%s takes no block", opt)
	}
	d.Prev()
	return nil
}

// errAt makes a Caddyfile error at tok, like Dispenser.Errf would there.
func errAt(tok caddyfile.Token, format string, args ...any) error {
	d := caddyfile.NewDispenser([]caddyfile.Token{tok})
	d.Next()
	return d.Errf(format, args...)
}

// Interface guards
var (
	_ caddyfile.Unmarshaler = (*Proxy)(nil)
)

// unmarshalClient parses a client block; the cursor is on "client".
//
//	client <name> [{
//		key         <secret...>
//		models      <pattern...>
//		rpm | rpd | tpm | tpd | concurrency <n>
//		note        <text>
//		disabled
//	}]
func unmarshalClient(d *caddyfile.Dispenser) (*Client, error) {
	if !d.NextArg() {
		return nil, d.ArgErr()
	}
	name := d.Val()
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	if err := checkClientName(name); err != nil {
		return nil, d.WrapErr(err)
	}
	c := &Client{Name: name}
	seen := make(map[string]bool)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		switch {
		case opt == "key":
			keys, err := argsAtLeast(d, 1)
			if err != nil {
				return nil, err
			}
			for _, k := range keys {
				if k == "" {
					return nil, d.Errf("client %q: key: %v", name, errEmptySecret)
				}
			}
			c.Keys = append(c.Keys, keys...)
			continue
		case opt == "models":
			m, err := argsAtLeast(d, 1)
			if err != nil {
				return nil, err
			}
			c.Models = append(c.Models, m...)
			continue
		case opt == "note" || opt == "disabled" || clientLimitNames[opt]:
		case limits.Lookup(opt) != nil:
			return nil, d.Errf("client %q: a client has no %s (its limits are rpm, rpd, tpm, tpd and concurrency)", name, opt)
		default:
			return nil, d.Errf("unrecognized client option %q", opt)
		}
		if seen[opt] {
			return nil, d.Errf("client %q: duplicate option %q", name, opt)
		}
		seen[opt] = true
		switch opt {
		case "disabled":
			if _, err := argsExactly(d, 0); err != nil {
				return nil, err
			}
			c.Disabled = true
		case "note":
			s, err := textArg(d)
			if err != nil {
				return nil, err
			}
			c.Note = s
		default:
			val, err := oneArg(d)
			if err != nil {
				return nil, err
			}
			l := c.limits()
			if err := l.ParseOption(opt, val); err != nil {
				return nil, d.WrapErr(err)
			}
			c.RPM, c.RPD, c.TPM, c.TPD, c.Concurrency = l.RPM, l.RPD, l.TPM, l.TPD, l.Concurrency
		}
	}
	return c, nil
}
