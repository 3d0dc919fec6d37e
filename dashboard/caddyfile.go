package dashboard

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("llm_proxy_admin", parseCaddyfile)
	// Before reverse_proxy, as llm_proxy: both answer requests themselves,
	// and both come after the authentication directives (basic_auth,
	// forward_auth) that protect them. No `order` line is needed.
	httpcaddyfile.RegisterDirectiveOrder("llm_proxy_admin", httpcaddyfile.Before, "reverse_proxy")
}

// parseCaddyfile sets up the handler from the llm_proxy_admin directive.
func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	a := new(Handler)
	if err := a.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	return a, nil
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	llm_proxy_admin [<matcher>] [<instance>]
//
// With <instance> (an llm_proxy `name`), only that instance is reachable;
// without, every running one. The directive takes no block.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume directive name
	if d.NextArg() {
		h.Instance = d.Val()
		if h.Instance == "" {
			return d.Err("the instance name must not be empty")
		}
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	if d.NextBlock(d.Nesting()) {
		return d.Errf("llm_proxy_admin takes no block (unexpected %q)", d.Val())
	}
	return nil
}

// Interface guards
var (
	_ caddyfile.Unmarshaler = (*Handler)(nil)
)
