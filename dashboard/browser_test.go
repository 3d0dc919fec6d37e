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
// them all through the page change what the API reports; the instance
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
	if n := eval[int](b, `document.querySelectorAll('button[data-action="delete"]').length`); n != len(newKeys) {
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

	// The other pages.
	b.page("clients", `document.getElementById('clients-table').childElementCount > 0`)
	b.screenshot("clients")
	b.page("usage", `document.querySelector('#usage-req-chart svg rect.bar') !== null && document.querySelectorAll('#usage-table tbody tr').length > 0`)
	b.screenshot("usage-by-day")
	b.do("grouping usage by model", chromedp.SetValue(chromedp.CSS("#usage-by"), "model"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('usage-by').dispatchEvent(new Event('change'))`))
	b.wait("usage by model", `document.querySelector('#usage-table th').textContent === 'model' && document.querySelectorAll('#usage-table tbody tr').length >= 2`)
	b.screenshot("usage-by-model")
	var logs struct{ Logs []struct{ Status int } }
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
	for _, tab := range []string{"overview", "keys", "logs"} {
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
