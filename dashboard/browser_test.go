package dashboard_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// The browser tests drive the dashboard in headless Chromium. They look for
// chromium, chromium-browser or google-chrome on PATH, and skip, saying so,
// when there is none, unless LLM_PROXY_REQUIRE_CHROMIUM=1 (as in CI), when
// they fail. They write a screenshot of every page to LLMP_ARTIFACTS
// (default: dashboard/testdata/artifacts, which git ignores).

// findChromium returns the browser's path, or skips or fails the test.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no chromium, chromium-browser or google-chrome on PATH (Debian: apt-get install chromium)"
	if os.Getenv("LLM_PROXY_REQUIRE_CHROMIUM") == "1" {
		t.Fatal(msg + "; LLM_PROXY_REQUIRE_CHROMIUM=1 requires it")
	}
	t.Skip("skipping the browser tests: " + msg)
	return ""
}

// artifactsDir is where screenshots go.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("LLMP_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("testdata", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser is one headless Chromium with one tab, and what the page wrote
// to its console.
type browser struct {
	t   *testing.T
	ctx context.Context // the tab
	dir string          // screenshots

	mu       sync.Mutex
	problems []string // console errors and warnings, exceptions, CSP violations
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := findChromium(t)
	profile, err := os.MkdirTemp("", "llm-proxy-dashboard-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Chromium's helpers can write to the profile for a moment after
		// the browser ends.
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // tests run as root in CI containers
		chromedp.DisableGPU,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	b := &browser{t: t, ctx: ctx, dir: artifactsDir(t)}
	// Subscribe before the first page, so that no message is lost.
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			b.note(m)
		}
	}()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return b
}

// note records a console message that shows something is wrong: any
// console.error, warning or assert, any uncaught exception, and the
// browser's own errors about the page (a CSP violation is one). A failed
// request the page handles (the clients API's 404) is the network's
// business, not a problem of the page.
func (b *browser) note(m chromedp.ConsoleMessage) {
	bad := m.IsException()
	switch {
	case m.Source == "network":
	case m.Source != "":
		bad = bad || m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning
	default:
		bad = bad || m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning || m.Type == "assert"
	}
	if !bad {
		return
	}
	b.mu.Lock()
	b.problems = append(b.problems, fmt.Sprintf("%s (%s:%d)", m.String(), m.URL, m.Line+1))
	b.mu.Unlock()
}

// checkConsole fails the test for every problem the page reported.
func (b *browser) checkConsole() {
	b.t.Helper()
	time.Sleep(200 * time.Millisecond) // let the last messages arrive
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		b.t.Errorf("browser console: %s", p)
	}
	b.problems = nil
}

func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// wait polls a JavaScript expression until it is true.
func (b *browser) wait(what, expr string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(40*time.Second))); err != nil {
		b.t.Fatalf("waiting for %s (%s): %v; the page says: %s", what, expr, err, eval[string](b, `document.body.innerText.slice(0, 2000)`))
	}
}

// page shows a dashboard page and waits until it has loaded its data.
func (b *browser) page(tab, ready string) {
	b.t.Helper()
	eval[any](b, fmt.Sprintf(`(window.__loaded = false, location.hash = %q, true)`, "#"+tab))
	b.wait(tab+" page", fmt.Sprintf(`!document.getElementById('page-%s').hidden && /^updated/.test(document.getElementById('status').textContent) && document.getElementById('banner').hidden && (%s)`, tab, ready))
}

// screenshot writes the page as name.png.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	// The note of the last action would cover part of the page.
	eval[bool](b, `(document.getElementById('toast').hidden = true, true)`)
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	file := filepath.Join(b.dir, name+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", file)
}

// TestDashboardInBrowser loads the dashboard in headless Chromium behind
// basic_auth (401 without the credentials): it shows the keys the API
// reports; adding keys, disabling, editing and deleting one, and checking
// them all through the page change what the API reports; the clients page
// shows the clients the API reports (a Caddyfile client block and a plain
// client_key), offers no Delete or Rotate for Caddyfile clients, and
// through it a client is made (its secret shown once, in the dialog, and
// working at once), rotated (the old secret 401 at once), edited, disabled
// (its secret 403) and deleted, its secrets never showing again on a page
// or in an API answer; usage by client charts the clients the API counts,
// and the requests page filters by client; the instance
// picker and the mount with one instance work; every page shows without a
// console error, exception or CSP violation, also at a phone's width
// without sideways scrolling; and no secret shows anywhere.
func TestDashboardInBrowser(t *testing.T) {
	b := newBrowser(t)
	f := startFixture(t)
	f.traffic(t)
	base := siteBase + "/llm-admin/"

	// Without credentials (the login prompt cancelled) the browser gets a
	// 401 and no dashboard.
	anon, cancelAnon := chromedp.NewContext(b.ctx)
	defer cancelAnon()
	answerLogin(t, anon, &fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseCancelAuth})
	responses := chromedp.Events(anon, network.ResponseReceived)
	if _, err := chromedp.Call(anon, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	actx, cancelTimeout := context.WithTimeout(anon, 60*time.Second)
	// Caddy's 401 has no body, so Chromium shows its own error page and
	// reports the navigation as failed: the status is in the response.
	err := chromedp.Do(actx, chromedp.Navigate(base))
	if err != nil && !strings.Contains(err.Error(), "ERR_HTTP_RESPONSE_CODE_FAILURE") {
		t.Fatalf("loading the dashboard without credentials: %v", err)
	}
	status := int64(0)
	for ev, err := range responses {
		if err != nil {
			t.Fatalf("reading the responses: %v", err)
		}
		if ev.Type == network.ResourceTypeDocument {
			status = ev.Response.Status
			break
		}
	}
	cancelTimeout()
	if status != http.StatusUnauthorized {
		t.Fatalf("the dashboard without credentials: %d, want 401", status)
	}
	if v := eval[bool](&browser{t: t, ctx: anon}, `document.getElementById('ov-cards') !== null`); v {
		t.Fatal("the dashboard shows without credentials")
	}
	cancelAnon()

	// With them, entered at the login prompt: the browser then sends them
	// with the page's API calls by itself.
	answerLogin(t, b.ctx, &fetch.AuthChallengeResponse{
		Response: fetch.AuthChallengeResponseResponseProvideCredentials,
		Username: adminUser,
		Password: adminPassword,
	})
	b.do("loading the dashboard", chromedp.Navigate(base))

	// Overview: today's requests as the API counts them.
	var today struct {
		Groups []struct{ Requests, Failures int64 }
	}
	admin(t, http.MethodGet, "/llm_proxy/"+f.instance+"/usage?by=day&days=1", "").decode(t, &today)
	if len(today.Groups) != 1 || today.Groups[0].Failures == 0 {
		t.Fatalf("usage today: %+v, want requests and failures", today.Groups)
	}
	b.page("overview", `document.querySelectorAll('#ov-cards .card').length === 4 && document.querySelector('#ov-req-chart svg rect.bar') !== null`)
	cards := eval[[]string](b, `[...document.querySelectorAll('#ov-cards .cvalue')].map(e => e.textContent)`)
	if cards[0] != fmt.Sprint(today.Groups[0].Requests) || cards[1] != fmt.Sprint(today.Groups[0].Failures) {
		t.Errorf("overview cards %q, want %d requests and %d errors today", cards, today.Groups[0].Requests, today.Groups[0].Failures)
	}
	if !eval[bool](b, `!document.getElementById('instance-wrap').hidden && document.getElementById('instance').options.length >= 2`) {
		t.Errorf("no instance picker although two instances run")
	}
	b.screenshot("overview")
	b.checkConsole()

	// Keys: every key the API reports, in its state.
	apiKeys := keys(t, f.instance)
	b.page("keys", fmt.Sprintf(`document.querySelectorAll('#keys-table tbody tr').length === %d`, len(apiKeys)))
	shown := eval[[]string](b, `[...document.querySelectorAll('#keys-table tbody tr')].map(tr => tr.querySelector('td .mono.strong').textContent + ' ' + tr.querySelector('.badge').textContent)`)
	var want []string
	for _, k := range apiKeys {
		want = append(want, k.ID+" "+k.State)
	}
	slices.Sort(shown)
	slices.Sort(want)
	if !slices.Equal(shown, want) {
		t.Errorf("the keys page shows %q, the API reports %q", shown, want)
	}
	if !slices.Contains(want, keyID(t, apiKeys, invalidKey)+" disabled") {
		t.Errorf("the refused key is not disabled: %q", want)
	}
	b.screenshot("keys")

	// Adding two keys through the page adds them through the API.
	b.do("opening the add dialog", chromedp.Click(chromedp.CSS("#keys-add")))
	b.do("filling the add dialog",
		chromedp.SetValue(chromedp.CSS("#addkeys-keys"), strings.Join(newKeys, "\n")+"\n"),
		chromedp.SetValue(chromedp.CSS("#addkeys-upstream"), "oai"),
		chromedp.SetValue(chromedp.CSS("#addkeys-rpm"), "30"),
		chromedp.SetValue(chromedp.CSS("#addkeys-note"), "added in the browser"),
	)
	b.screenshot("keys-add")
	b.do("adding", chromedp.Click(chromedp.CSS("#addkeys-submit")))
	var added []apiKey
	eventually(t, "the API to report the keys added in the page", func() bool {
		added = added[:0]
		for _, k := range keys(t, f.instance) {
			if k.Source == "admin" {
				added = append(added, k)
			}
		}
		return len(added) == len(newKeys)
	})
	for _, k := range added {
		if k.Limits["rpm"] != float64(30) || k.State != "active" {
			t.Errorf("added key %+v, want rpm 30 and active", k)
		}
	}
	b.wait("the added keys on the page", fmt.Sprintf(`document.querySelectorAll('#keys-table tbody tr').length === %d && document.getElementById('dlg-keys').open === false`, len(apiKeys)+len(newKeys)))
	if v := eval[string](b, `document.getElementById('addkeys-keys').value`); v != "" {
		t.Errorf("the add dialog keeps the secrets after adding: %q", v)
	}

	// Disabling a key through the page disables it in the API.
	target := keyID(t, apiKeys, oaiKeys[1])
	b.do("disabling "+target, chromedp.Click(chromedp.CSS(fmt.Sprintf(`button[data-action="disable"][data-id=%q]`, target))))
	eventually(t, "the API to report the key disabled", func() bool {
		for _, k := range keys(t, f.instance) {
			if k.ID == target {
				return k.State == "disabled"
			}
		}
		return false
	})
	b.wait("the Enable button of the disabled key", fmt.Sprintf(`document.querySelector('button[data-action="enable"][data-id=%q]') !== null`, target))
	b.screenshot("keys-after")

	// Editing a key's limits and note through the page changes them in
	// the API.
	edited := keyID(t, apiKeys, oaiKeys[0])
	b.do("editing "+edited, chromedp.Click(chromedp.CSS(fmt.Sprintf(`button[data-action="edit"][data-id=%q]`, edited))))
	b.wait("the edit dialog", `document.getElementById('dlg-key').open && document.getElementById('key-rpm').value === '60'`)
	b.do("changing rpm and note", chromedp.SetValue(chromedp.CSS("#key-rpm"), "120"), chromedp.SetValue(chromedp.CSS("#key-note"), "team B"))
	b.screenshot("keys-edit")
	b.do("saving", chromedp.Click(chromedp.CSS("#key-submit")))
	eventually(t, "the API to report the edited limits and note", func() bool {
		a := admin(t, http.MethodGet, "/llm_proxy/"+f.instance+"/keys/"+edited, "")
		var k struct {
			Limits map[string]any
			Note   string
		}
		a.decode(t, &k)
		return k.Limits["rpm"] == float64(120) && k.Limits["rpd"] == float64(1000) && k.Note == "team B"
	})
	b.wait("the edited key on the page", `!document.getElementById('dlg-key').open && document.getElementById('keys-table').innerText.includes('team B') && document.getElementById('keys-table').innerText.includes('/ 120')`)

	// Only keys added through the API can be deleted; deleting one through
	// the page (after saying yes) removes it from the API.
	if n := eval[int](b, `document.querySelectorAll('#keys-table button[data-action="delete"]').length`); n != len(newKeys) {
		t.Errorf("%d Delete buttons, want one per key added through the API (%d)", n, len(newKeys))
	}
	gone := added[0].ID
	b.do("deleting "+gone, chromedp.Click(chromedp.CSS(fmt.Sprintf(`button[data-action="delete"][data-id=%q]`, gone))))
	b.wait("the confirmation", `document.getElementById('dlg-confirm').open`)
	b.do("confirming", chromedp.Click(chromedp.CSS("#confirm-yes")))
	eventually(t, "the API to forget the deleted key", func() bool {
		return !slices.ContainsFunc(keys(t, f.instance), func(k apiKey) bool { return k.ID == gone })
	})
	b.wait("the deleted key gone from the page", fmt.Sprintf(`document.querySelectorAll('#keys-table tbody tr').length === %d`, len(apiKeys)+len(newKeys)-1))
	b.checkConsole()

	// Clients: every client the API reports (the Caddyfile's "ci" and the
	// "default" of the plain client_key), in its state, with its source and
	// masked secrets.
	apiClients := clients(t, f.instance)
	if len(apiClients) != 2 {
		t.Fatalf("the API reports clients %+v, want ci and default", apiClients)
	}
	b.page("clients", fmt.Sprintf(`document.querySelectorAll('#clients-table tbody tr').length === %d`, len(apiClients)))
	shownClients := func() []string {
		return eval[[]string](b, `[...document.querySelectorAll('#clients-table tbody tr')].map(tr => [tr.querySelector('.cname').textContent, tr.querySelector('.badge').textContent, tr.querySelector('.csource').textContent, tr.querySelector('.csecrets').textContent].join(' | '))`)
	}
	wantClients := func(cs []apiClient) []string {
		var out []string
		for _, c := range cs {
			out = append(out, strings.Join([]string{c.Name, c.State, c.Source, strings.Join(c.Keys, " ")}, " | "))
		}
		return out
	}
	if got, want := shownClients(), wantClients(apiClients); !slices.Equal(got, want) {
		t.Errorf("the clients page shows %q, the API reports %q", got, want)
	}
	for _, c := range apiClients {
		if c.Source != "config" || c.State != "active" || len(c.Keys) != 1 || c.Usage["total"] == 0 {
			t.Errorf("Caddyfile client %+v: want active, from the config, one masked secret, and used", c)
		}
	}
	if !eval[bool](b, `document.getElementById('clients-table').innerText.includes('CI runners') && document.getElementById('clients-table').innerText.includes('gpt-4o*')`) {
		t.Errorf("the clients page does not show ci's note and models")
	}
	// A Caddyfile client can be edited and disabled, not rotated or
	// deleted: the API refuses both.
	if n := eval[int](b, `document.querySelectorAll('#clients-table button[data-action="delete"], #clients-table button[data-action="rotate"]').length`); n != 0 {
		t.Errorf("%d Delete or Rotate buttons for Caddyfile clients, want none", n)
	}
	if a := admin(t, http.MethodDelete, "/llm_proxy/"+f.instance+"/clients/ci", ""); a.status != http.StatusConflict {
		t.Errorf("DELETE a Caddyfile client: %d %s, want 409", a.status, a.body)
	}
	b.screenshot("clients")

	// Creating a client through the page: its secret shows once, in the
	// dialog, and works at once.
	b.do("opening the new client dialog", chromedp.Click(chromedp.CSS("#clients-add")))
	b.do("filling the new client dialog",
		chromedp.SetValue(chromedp.CSS("#client-name"), "nightly"),
		chromedp.SetValue(chromedp.CSS("#client-models"), "gpt-4o-mini fast"),
		chromedp.SetValue(chromedp.CSS("#client-rpm"), "50"),
		chromedp.SetValue(chromedp.CSS("#client-tpd"), "100000"),
		chromedp.SetValue(chromedp.CSS("#client-note"), "nightly builds"),
	)
	b.screenshot("clients-new")
	b.do("creating", chromedp.Click(chromedp.CSS("#client-submit")))
	b.wait("the secret dialog", `document.getElementById('dlg-secret').open && document.getElementById('secret-value').textContent !== ''`)
	secret := eval[string](b, `document.getElementById('secret-value').textContent`)
	if !strings.HasPrefix(secret, "llmp-") || len(secret) < 24 || eval[string](b, `document.getElementById('secret-name').textContent`) != "nightly" {
		t.Fatalf("the secret dialog shows %q for %q, want nightly's llmp-… secret", secret[:min(5, len(secret))], eval[string](b, `document.getElementById('secret-name').textContent`))
	}
	b.screenshot("clients-secret")
	b.do("closing the secret dialog", chromedp.Click(chromedp.CSS("#dlg-secret button[data-close]")))
	b.wait("the secret dialog closed and emptied", `!document.getElementById('dlg-secret').open && document.getElementById('secret-value').textContent === ''`)
	nightly := func() apiClient {
		t.Helper()
		a := admin(t, http.MethodGet, "/llm_proxy/"+f.instance+"/clients/nightly", "")
		if a.status != http.StatusOK {
			t.Fatalf("GET clients/nightly: %d %s", a.status, a.body)
		}
		var c apiClient
		a.decode(t, &c)
		return c
	}
	c := nightly()
	if c.Source != "admin" || c.State != "active" || c.Limits["rpm"] != float64(50) || c.Limits["tpd"] != float64(100000) ||
		!slices.Equal(c.Models, []string{"gpt-4o-mini", "fast"}) || c.Note != "nightly builds" || len(c.Keys) != 1 || c.Keys[0] != "llmp-…"+secret[len(secret)-4:] {
		t.Errorf("the client made in the page: %+v", c)
	}
	if a := chatAs(t, secret, "fast"); a.status != http.StatusOK {
		t.Fatalf("a request with the new client's secret: %d %s", a.status, a.body)
	}
	if a := chatAs(t, secret, "smart"); a.status != http.StatusForbidden {
		t.Errorf("the new client asking for a model outside its models: %d %s, want 403", a.status, a.body)
	}
	eventually(t, "the API to count the request for nightly", func() bool { return nightly().Usage["total"] == 1 })
	b.wait("nightly on the page", fmt.Sprintf(`document.querySelectorAll('#clients-table tbody tr').length === %d && [...document.querySelectorAll('#clients-table .cname')].some(e => e.textContent === 'nightly')`, len(apiClients)+1))
	if got, want := shownClients(), wantClients(clients(t, f.instance)); !slices.Equal(got, want) {
		t.Errorf("the clients page shows %q, the API reports %q", got, want)
	}
	b.checkConsole()

	// Rotating the secret through the page: the old one answers 401 at
	// once, the new one (shown once) works.
	b.do("rotating nightly", chromedp.Click(chromedp.CSS(`#clients-table button[data-action="rotate"][data-name="nightly"]`)))
	b.wait("the confirmation", `document.getElementById('dlg-confirm').open`)
	b.do("confirming", chromedp.Click(chromedp.CSS("#confirm-yes")))
	b.wait("the new secret", fmt.Sprintf(`document.getElementById('dlg-secret').open && /^llmp-/.test(document.getElementById('secret-value').textContent) && document.getElementById('secret-value').textContent !== %q`, secret))
	rotated := eval[string](b, `document.getElementById('secret-value').textContent`)
	b.do("closing the secret dialog", chromedp.Click(chromedp.CSS("#dlg-secret button[data-close]")))
	b.wait("the secret dialog closed and emptied", `!document.getElementById('dlg-secret').open && document.getElementById('secret-value').textContent === ''`)
	if a := chatAs(t, secret, "fast"); a.status != http.StatusUnauthorized {
		t.Errorf("the old secret after rotating: %d %s, want 401", a.status, a.body)
	}
	if a := chatAs(t, rotated, "fast"); a.status != http.StatusOK {
		t.Errorf("the new secret after rotating: %d %s", a.status, a.body)
	}
	eventually(t, "the API to count the rotated secret's request for nightly", func() bool {
		c := nightly()
		return c.Usage["total"] == 2 && c.Keys[0] == "llmp-…"+rotated[len(rotated)-4:]
	})

	// Editing its models, limits and note through the page.
	b.do("editing nightly", chromedp.Click(chromedp.CSS(`#clients-table button[data-action="edit"][data-name="nightly"]`)))
	b.wait("the edit dialog", `document.getElementById('dlg-client').open && document.getElementById('client-rpm').value === '50' && document.getElementById('client-models').value === 'gpt-4o-mini fast' && document.getElementById('client-name').disabled`)
	b.do("changing models, rpm, tpd and note",
		chromedp.SetValue(chromedp.CSS("#client-models"), "gpt-4o*"),
		chromedp.SetValue(chromedp.CSS("#client-rpm"), "80"),
		// chromedp's SetValue cannot empty a field.
		chromedp.Evaluate[chromedp.Void](`document.getElementById('client-tpd').value = ''`),
		chromedp.SetValue(chromedp.CSS("#client-concurrency"), "2"),
		chromedp.SetValue(chromedp.CSS("#client-note"), "nightly and weekly"))
	b.do("saving", chromedp.Click(chromedp.CSS("#client-submit")))
	eventually(t, "the API to report nightly's new settings", func() bool {
		c := nightly()
		_, tpd := c.Limits["tpd"]
		return c.Limits["rpm"] == float64(80) && c.Limits["concurrency"] == float64(2) && !tpd &&
			slices.Equal(c.Models, []string{"gpt-4o*"}) && c.Note == "nightly and weekly"
	})
	b.wait("the edited client on the page", `!document.getElementById('dlg-client').open && document.getElementById('clients-table').innerText.includes('nightly and weekly') && document.getElementById('clients-table').innerText.includes('/ 80')`)

	// Disabling it through the page: the API reports it disabled, and its
	// secret is refused with a 403.
	b.do("disabling nightly", chromedp.Click(chromedp.CSS(`#clients-table button[data-action="disable"][data-name="nightly"]`)))
	eventually(t, "the API to report nightly disabled", func() bool { return nightly().State == "disabled" })
	if a := chatAs(t, rotated, "gpt-4o"); a.status != http.StatusForbidden {
		t.Errorf("a disabled client's request: %d %s, want 403", a.status, a.body)
	}
	b.wait("the Enable button of the disabled client", `document.querySelector('#clients-table button[data-action="enable"][data-name="nightly"]') !== null`)
	if got, want := shownClients(), wantClients(clients(t, f.instance)); !slices.Equal(got, want) {
		t.Errorf("the clients page shows %q, the API reports %q", got, want)
	}
	b.screenshot("clients-after")

	// The secrets shown in the dialog show nowhere since: not on a page,
	// not in an API answer.
	for _, tab := range []string{"clients", "keys", "logs", "overview"} {
		b.page(tab, "true")
		text := eval[string](b, `document.documentElement.outerHTML + document.body.innerText`)
		for _, s := range []string{secret, rotated} {
			if strings.Contains(text, s) || strings.Contains(text, s[5:len(s)-4]) {
				t.Errorf("the %s page shows a client secret made in the page", tab)
			}
		}
	}
	for _, p := range []string{"clients", "clients/nightly", "keys", "logs?limit=1000", "usage?by=client", "models"} {
		body := admin(t, http.MethodGet, "/llm_proxy/"+f.instance+"/"+p, "").body
		body += dash(t, http.MethodGet, "/llm-admin/api/"+f.instance+"/"+p, "").body
		for _, s := range []string{secret, rotated} {
			if strings.Contains(body, s) || strings.Contains(body, s[5:len(s)-4]) {
				t.Errorf("GET %s shows a client secret made in the page", p)
			}
		}
	}

	// Deleting it through the page (after saying yes) removes it.
	b.page("clients", `document.querySelector('#clients-table button[data-action="delete"][data-name="nightly"]') !== null`)
	if n := eval[int](b, `document.querySelectorAll('#clients-table button[data-action="delete"]').length`); n != 1 {
		t.Errorf("%d Delete buttons on the clients page, want one, nightly's", n)
	}
	b.do("deleting nightly", chromedp.Click(chromedp.CSS(`#clients-table button[data-action="delete"][data-name="nightly"]`)))
	b.wait("the confirmation", `document.getElementById('dlg-confirm').open`)
	b.do("confirming", chromedp.Click(chromedp.CSS("#confirm-yes")))
	eventually(t, "the API to forget nightly", func() bool {
		return admin(t, http.MethodGet, "/llm_proxy/"+f.instance+"/clients/nightly", "").status == http.StatusNotFound
	})
	if a := chatAs(t, rotated, "gpt-4o"); a.status != http.StatusUnauthorized {
		t.Errorf("a deleted client's secret: %d %s, want 401", a.status, a.body)
	}
	b.wait("nightly gone from the page", fmt.Sprintf(`document.querySelectorAll('#clients-table tbody tr').length === %d`, len(apiClients)))

	// A Caddyfile client's limit changed in the page overrides the
	// Caddyfile's; emptied, it goes back to it.
	ci := func() apiClient {
		t.Helper()
		var c apiClient
		admin(t, http.MethodGet, "/llm_proxy/"+f.instance+"/clients/ci", "").decode(t, &c)
		return c
	}
	b.do("editing ci", chromedp.Click(chromedp.CSS(`#clients-table button[data-action="edit"][data-name="ci"]`)))
	b.wait("ci's edit dialog", `document.getElementById('dlg-client').open && document.getElementById('client-rpm').value === '100' && document.getElementById('client-limits-legend').textContent.includes('Caddyfile')`)
	b.do("changing ci's rpm", chromedp.SetValue(chromedp.CSS("#client-rpm"), "200"))
	b.do("saving", chromedp.Click(chromedp.CSS("#client-submit")))
	eventually(t, "the API to report ci's rpm overridden", func() bool {
		c := ci()
		return c.Limits["rpm"] == float64(200) && slices.Contains(c.Overrides, "rpm") && c.Limits["rpd"] == float64(5000)
	})
	b.wait("the override on the page", `!document.getElementById('dlg-client').open && document.getElementById('clients-table').innerText.includes('changed: rpm') && document.getElementById('clients-table').innerText.includes('/ 200')`)
	b.do("editing ci again", chromedp.Click(chromedp.CSS(`#clients-table button[data-action="edit"][data-name="ci"]`)))
	b.wait("ci's edit dialog", `document.getElementById('dlg-client').open && document.getElementById('client-rpm').value === '200'`)
	b.do("emptying ci's rpm", chromedp.Evaluate[chromedp.Void](`document.getElementById('client-rpm').value = ''`))
	b.do("saving", chromedp.Click(chromedp.CSS("#client-submit")))
	eventually(t, "the API to report ci's rpm back to the Caddyfile's", func() bool {
		c := ci()
		return c.Limits["rpm"] == float64(100) && !slices.Contains(c.Overrides, "rpm")
	})
	b.wait("the Caddyfile's rpm on the page", `!document.getElementById('dlg-client').open && !document.getElementById('clients-table').innerText.includes('changed: rpm') && document.getElementById('clients-table').innerText.includes('/ 100')`)
	b.checkConsole()

	// The other pages.
	b.page("usage", `document.querySelector('#usage-req-chart svg rect.bar') !== null && document.querySelectorAll('#usage-table tbody tr').length > 0`)
	b.screenshot("usage-by-day")
	b.do("grouping usage by model", chromedp.SetValue(chromedp.CSS("#usage-by"), "model"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('usage-by').dispatchEvent(new Event('change'))`))
	b.wait("usage by model", `document.querySelector('#usage-table th').textContent === 'model' && document.querySelectorAll('#usage-table tbody tr').length >= 2`)
	b.screenshot("usage-by-model")

	// By client: the chart and the table show the clients the API counts.
	var byClient struct {
		Groups []struct {
			Group    string
			Requests int64
		}
	}
	admin(t, http.MethodGet, "/llm_proxy/"+f.instance+"/usage?by=client&days=14", "").decode(t, &byClient)
	var clientNames []string
	for _, g := range byClient.Groups {
		clientNames = append(clientNames, g.Group)
	}
	slices.Sort(clientNames)
	if !slices.Contains(clientNames, "ci") || !slices.Contains(clientNames, "default") || !slices.Contains(clientNames, "nightly") {
		t.Errorf("usage by client: %q, want ci, default and nightly", clientNames)
	}
	b.do("grouping usage by client", chromedp.SetValue(chromedp.CSS("#usage-by"), "client"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('usage-by').dispatchEvent(new Event('change'))`))
	b.wait("usage by client", fmt.Sprintf(`document.querySelector('#usage-table th').textContent === 'client' && document.querySelectorAll('#usage-table tbody tr').length === %d`, len(clientNames)))
	chartNames := eval[[]string](b, `[...document.querySelectorAll('#usage-req-chart svg text title')].map(e => e.textContent)`)
	tableNames := eval[[]string](b, `[...document.querySelectorAll('#usage-table tbody tr td:first-child')].map(e => e.textContent)`)
	slices.Sort(chartNames)
	slices.Sort(tableNames)
	if !slices.Equal(chartNames, clientNames) || !slices.Equal(tableNames, clientNames) {
		t.Errorf("usage by client: the chart shows %q, the table %q, the API counts %q", chartNames, tableNames, clientNames)
	}
	b.screenshot("usage-by-client")
	b.do("grouping usage by day", chromedp.SetValue(chromedp.CSS("#usage-by"), "day"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('usage-by').dispatchEvent(new Event('change'))`))
	var logs struct {
		Logs []struct {
			Status int
			Client string
		}
	}
	admin(t, http.MethodGet, "/llm_proxy/"+f.instance+"/logs?limit=100", "").decode(t, &logs)
	b.page("logs", fmt.Sprintf(`document.querySelectorAll('#logs-table tbody tr').length === %d`, len(logs.Logs)))
	b.screenshot("requests")
	errorsLogged := 0
	for _, l := range logs.Logs {
		if l.Status >= 400 {
			errorsLogged++
		}
	}
	eval[bool](b, `(document.getElementById('logs-errors').click(), true)`)
	b.wait("the errors-only filter", fmt.Sprintf(`document.querySelectorAll('#logs-table tbody tr').length === %d`, errorsLogged))
	eval[bool](b, `(document.getElementById('logs-errors').click(), true)`)
	// The client filter offers the clients of the log and shows only the
	// chosen one's requests.
	ciLogged := 0
	for _, l := range logs.Logs {
		if l.Client == "ci" {
			ciLogged++
		}
	}
	if ciLogged == 0 {
		t.Errorf("no request of ci in the log")
	}
	b.wait("the client filter's options", `['ci', 'default', 'nightly'].every(n => [...document.getElementById('logs-client').options].some(o => o.value === n))`)
	eval[bool](b, `(document.getElementById('logs-client').value = 'ci', document.getElementById('logs-client').dispatchEvent(new Event('change')), true)`)
	b.wait("the client filter", fmt.Sprintf(`document.querySelectorAll('#logs-table tbody tr').length === %d && [...document.querySelectorAll('#logs-table tbody td[data-label="client"]')].every(e => e.textContent === 'ci')`, ciLogged))
	b.screenshot("requests-ci")
	eval[bool](b, `(document.getElementById('logs-client').value = '', document.getElementById('logs-client').dispatchEvent(new Event('change')), true)`)
	var models struct{ Models []any }
	admin(t, http.MethodGet, "/llm_proxy/"+f.instance+"/models", "").decode(t, &models)
	b.page("models", fmt.Sprintf(`document.querySelectorAll('#models-table tbody tr').length === %d`, len(models.Models)))
	b.screenshot("models")

	// Checking every key from the page reports each one.
	b.page("keys", "true")
	b.do("checking every key", chromedp.Click(chromedp.CSS("#keys-check")))
	b.wait("the check's result", fmt.Sprintf(`(document.querySelector('#keys-check-result h2') || {}).textContent === 'Check: %d of %d keys answered'`, len(apiKeys)+len(newKeys)-2, len(apiKeys)+len(newKeys)-1))
	b.screenshot("keys-check")

	// The picker shows the other instance's keys.
	second := keys(t, f.second)
	eval[bool](b, fmt.Sprintf(`(document.getElementById('instance').value = %q, document.getElementById('instance').dispatchEvent(new Event('change')), true)`, f.second))
	b.wait("the second instance's keys", fmt.Sprintf(`document.querySelectorAll('#keys-table tbody tr').length === %d && document.querySelector('#keys-table td .keyid').textContent === %q`, len(second), second[0].ID))
	eval[bool](b, fmt.Sprintf(`(document.getElementById('instance').value = %q, document.getElementById('instance').dispatchEvent(new Event('change')), true)`, f.instance))
	b.checkConsole()

	// Mounted with handle (the prefix kept) and an instance named: that
	// instance only, no picker.
	b.do("loading the pinned dashboard", chromedp.Navigate(siteBase+"/pinned/#keys"))
	b.page("keys", fmt.Sprintf(`document.querySelectorAll('#keys-table tbody tr').length === %d`, len(keys(t, f.instance))))
	if got := eval[[]any](b, `[document.getElementById('instance-wrap').hidden, document.getElementById('instance-name').textContent]`); got[0] != true || got[1] != f.instance {
		t.Errorf("the pinned dashboard: picker hidden, name = %v, want true, %s", got, f.instance)
	}
	b.checkConsole()

	// A phone: no sideways scrolling, tables as cards.
	b.do("a phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	for _, p := range []struct{ tab, ready string }{
		{"overview", `document.querySelector('#ov-req-chart svg') !== null`},
		{"keys", `document.querySelectorAll('#keys-table tbody tr').length > 0`},
		{"clients", `document.querySelectorAll('#clients-table tbody tr').length > 0`},
		{"usage", `document.querySelectorAll('#usage-table tbody tr').length > 0`},
		{"logs", `document.querySelectorAll('#logs-table tbody tr').length > 0`},
	} {
		b.page(p.tab, p.ready)
		if w := eval[[]int](b, `[document.documentElement.scrollWidth, window.innerWidth]`); w[0] > w[1] {
			t.Errorf("%s page at a phone's width: %d px wide in a %d px viewport", p.tab, w[0], w[1])
		}
		b.screenshot("phone-" + p.tab)
	}
	b.checkConsole()

	// No secret anywhere on any page.
	for _, tab := range []string{"overview", "keys", "clients", "logs"} {
		b.page(tab, "true")
		text := eval[string](b, `document.documentElement.outerHTML + document.body.innerText`)
		for _, s := range secrets() {
			if strings.Contains(text, s) || strings.Contains(text, s[3:len(s)-4]) {
				t.Errorf("the %s page shows the secret %s…", tab, s[:3])
			}
		}
	}
}

// answerLogin answers every login prompt of the tab with the given
// response, as a user would (typing the credentials or cancelling). The
// Fetch domain that reports the prompts pauses every request, so it lets
// each one go on, untouched.
func answerLogin(t *testing.T, tab context.Context, answer *fetch.AuthChallengeResponse) {
	t.Helper()
	paused := chromedp.Events(tab, fetch.RequestPaused)
	prompts := chromedp.Events(tab, fetch.AuthRequired)
	if _, err := chromedp.Call(tab, fetch.Enable, fetch.EnableParams{HandleAuthRequests: new(true)}); err != nil {
		t.Fatalf("Fetch.enable: %v", err)
	}
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(tab, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
		}
	}()
	go func() {
		for ev, err := range prompts {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(tab, fetch.ContinueWithAuth, fetch.ContinueWithAuthParams{RequestID: ev.RequestID, AuthChallengeResponse: answer})
		}
	}()
}

// keyID finds the id of the key with that secret by its masked form.
func keyID(t *testing.T, ks []apiKey, secret string) string {
	t.Helper()
	for _, k := range ks {
		if strings.HasPrefix(k.Key, secret[:3]) && strings.HasSuffix(k.Key, secret[len(secret)-4:]) {
			return k.ID
		}
	}
	t.Fatalf("no key masked like %s…%s", secret[:3], secret[len(secret)-4:])
	return ""
}

// eventually polls cond until it holds, for up to 30 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
