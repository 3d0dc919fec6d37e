// The llm_proxy dashboard: a page over the admin JSON API served below
// api/ next to it. Everything the API answers is put on the page as text
// (textContent, text nodes, attributes), never parsed as HTML.
'use strict';

(() => {
  const REFRESH_MS = 5000;
  const LIMIT_NAMES = ['weight', 'rpm', 'rpd', 'tpm', 'tpd', 'concurrency', 'interval'];
  const CLIENT_LIMITS = ['rpm', 'rpd', 'tpm', 'tpd', 'concurrency'];
  const STATES = ['active', 'cooling', 'exhausted', 'disabled'];

  const $ = (id) => document.getElementById(id);

  // el builds an element; attributes are set as attributes or listeners,
  // children are nodes or strings (added as text).
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    setAttrs(e, attrs);
    addKids(e, kids);
    return e;
  }

  const SVGNS = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs, ...kids) {
    const e = document.createElementNS(SVGNS, tag);
    setAttrs(e, attrs);
    addKids(e, kids);
    return e;
  }

  function setAttrs(e, attrs) {
    if (!attrs) return;
    for (const [k, v] of Object.entries(attrs)) {
      if (v == null || v === false) continue;
      if (k === 'class') e.setAttribute('class', v);
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
  }

  function addKids(e, kids) {
    for (const k of kids.flat(Infinity)) {
      if (k == null || k === false) continue;
      e.append(k instanceof Node ? k : String(k));
    }
  }

  // ---- the API ----

  class APIError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(method, path, body) {
    const opts = { method, cache: 'no-store', credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (method !== 'GET') opts.headers['X-LLM-Proxy-Admin'] = '1';
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    const r = await fetch('api/' + path, opts);
    const text = await r.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (_) {
      data = null;
    }
    if (!r.ok) {
      let msg = (data && data.error) || text.trim() || r.statusText;
      if (r.status === 401) msg = 'not signed in (401): reload the page to enter the credentials again';
      throw new APIError(r.status, msg);
    }
    return data;
  }

  const inst = (path) => encodeURIComponent(state.instance) + '/' + path;
  const seg = (s) => encodeURIComponent(s);

  // ---- formatting ----

  const nf = new Intl.NumberFormat();
  function num(n) {
    return n == null ? '–' : nf.format(n);
  }
  function short(n) {
    if (n == null) return '–';
    const a = Math.abs(n);
    if (a >= 1e9) return (n / 1e9).toFixed(a >= 1e10 ? 0 : 1) + 'G';
    if (a >= 1e6) return (n / 1e6).toFixed(a >= 1e7 ? 0 : 1) + 'M';
    if (a >= 1e4) return (n / 1e3).toFixed(a >= 1e5 ? 0 : 1) + 'k';
    return nf.format(n);
  }
  function duration(ms) {
    if (ms <= 0) return 'now';
    const s = Math.round(ms / 1000);
    if (s < 60) return s + 's';
    const m = Math.floor(s / 60);
    if (m < 60) return m + 'm ' + (s % 60) + 's';
    const h = Math.floor(m / 60);
    if (h < 48) return h + 'h ' + (m % 60) + 'm';
    return Math.floor(h / 24) + 'd ' + (h % 24) + 'h';
  }
  function until(t) {
    if (!t) return '';
    const d = new Date(t);
    if (isNaN(d)) return String(t);
    return 'until ' + d.toLocaleString() + ' (in ' + duration(d - Date.now()) + ')';
  }
  function clock(t) {
    const d = new Date(t);
    if (isNaN(d)) return String(t || '');
    const today = new Date();
    return d.toDateString() === today.toDateString() ? d.toLocaleTimeString() : d.toLocaleString();
  }
  function badge(stateName) {
    return el('span', { class: 'badge state-' + String(stateName).replace(/[^a-z]/g, '') }, stateName);
  }
  function statusBadge(code) {
    const cls = code >= 500 ? 'st-5' : code >= 400 ? 'st-4' : 'st-2';
    return el('span', { class: 'badge ' + cls }, String(code));
  }

  // table builds a table from column definitions {title, cell(row) -> node|string, cls};
  // on narrow screens CSS shows each row as a card, labelled by data-label.
  function table(columns, rows, empty) {
    if (!rows.length) return el('p', { class: 'empty' }, empty || 'Nothing to show.');
    return el('div', { class: 'table-wrap' },
      el('table', { class: 'data' },
        el('thead', null, el('tr', null, columns.map((c) => el('th', { class: c.cls }, c.title)))),
        el('tbody', null, rows.map((r) => el('tr', { class: columns.rowClass ? columns.rowClass(r) : null },
          columns.map((c) => el('td', { class: c.cls, 'data-label': c.title }, c.cell(r))))))));
  }

  // show puts what build makes into the element, unless what it would show
  // is the same as what it shows (sig is the same): a refresh that brings
  // nothing new leaves the page alone, with its focus, selection and
  // buttons where they are.
  const shownSig = new Map();
  function show(id, sig, build) {
    if (shownSig.get(id) === sig) return;
    shownSig.set(id, sig);
    $(id).replaceChildren(build());
  }

  // usageBar shows used against a limit; with no limit just the count.
  function usageBar(label, used, limit) {
    if (!limit) {
      return el('div', { class: 'ubar nolimit' }, el('span', { class: 'ulabel' }, label), el('span', { class: 'uval' }, short(used || 0)));
    }
    const pct = Math.min(100, Math.round(((used || 0) / limit) * 100));
    const fill = el('div', { class: 'fill' + (pct >= 100 ? ' full' : pct >= 80 ? ' high' : '') });
    fill.style.width = pct + '%';
    return el('div', { class: 'ubar', title: label + ': ' + num(used || 0) + ' of ' + num(limit) },
      el('span', { class: 'ulabel' }, label),
      el('div', { class: 'track' }, fill),
      el('span', { class: 'uval' }, short(used || 0) + ' / ' + short(limit)));
  }

  // ---- charts (SVG) ----

  // chartWidth is the width of a chart's drawing in SVG units: the width
  // of its box on the page, so that its text has the page's size.
  function chartWidth(box) {
    return Math.max(300, Math.min(900, box || 640));
  }

  function niceMax(v) {
    if (v <= 0) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  function legend(series) {
    return el('div', { class: 'legend' }, series.map((s) => el('span', null, el('i', { class: 'sw ' + s.cls }), s.name)));
  }

  // columnChart draws stacked columns, one per label.
  function columnChart(labels, series, fmtLabel, width) {
    const W = chartWidth(width), H = 220, L = 48, R = 8, T = 10, B = 34;
    const n = labels.length;
    if (!n) return el('p', { class: 'empty' }, 'No requests in this period.');
    const totals = labels.map((_, i) => series.reduce((a, s) => a + (s.values[i] || 0), 0));
    const max = niceMax(Math.max(...totals));
    const pw = W - L - R, ph = H - T - B;
    const step = pw / n;
    const bw = Math.max(1, Math.min(40, step * 0.7));
    const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'svgchart', role: 'img', 'aria-label': series.map((s) => s.name).join(', ') });
    for (let i = 0; i <= 4; i++) {
      const v = (max * i) / 4, y = T + ph - (ph * i) / 4;
      root.append(svg('line', { x1: L, x2: W - R, y1: y, y2: y, class: 'grid' }));
      root.append(svg('text', { x: L - 6, y: y + 4, class: 'axis', 'text-anchor': 'end' }, short(v)));
    }
    const every = Math.max(1, Math.ceil(n / Math.max(2, Math.floor(pw / 56))));
    labels.forEach((lab, i) => {
      const x = L + step * i + (step - bw) / 2;
      let y0 = T + ph;
      for (const s of series) {
        const v = s.values[i] || 0;
        if (!v) continue;
        const h = (ph * v) / max;
        y0 -= h;
        root.append(svg('rect', { x, y: y0, width: bw, height: Math.max(h, 0.5), class: 'bar ' + s.cls },
          svg('title', null, `${lab} · ${s.name}: ${num(v)}`)));
      }
      if ((n - 1 - i) % every === 0) {
        root.append(svg('text', { x: x + bw / 2, y: H - B + 16, class: 'axis', 'text-anchor': 'middle' }, fmtLabel ? fmtLabel(lab) : lab));
      }
    });
    return el('div', null, root, legend(series));
  }

  // barChart draws stacked horizontal bars, one per label (categories).
  function barChart(labels, series, width) {
    const n = labels.length;
    if (!n) return el('p', { class: 'empty' }, 'No requests in this period.');
    const shown = Math.min(n, 15);
    const W = chartWidth(width), rowH = 22, L = Math.min(170, W * 0.35), R = 50, T = 4;
    const H = T + shown * rowH + 4;
    const maxChars = Math.floor((L - 10) / 6.5);
    const totals = labels.map((_, i) => series.reduce((a, s) => a + (s.values[i] || 0), 0));
    const max = Math.max(1, ...totals);
    const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'svgchart', role: 'img', 'aria-label': series.map((s) => s.name).join(', ') });
    for (let i = 0; i < shown; i++) {
      const y = T + i * rowH;
      const lab = labels[i];
      root.append(svg('text', { x: L - 8, y: y + 15, class: 'axis', 'text-anchor': 'end' }, lab.length > maxChars ? lab.slice(0, maxChars - 1) + '…' : lab,
        svg('title', null, lab)));
      let x0 = L;
      for (const s of series) {
        const v = s.values[i] || 0;
        if (!v) continue;
        const w = ((W - L - R) * v) / max;
        root.append(svg('rect', { x: x0, y: y + 3, width: Math.max(w, 0.5), height: rowH - 7, class: 'bar ' + s.cls },
          svg('title', null, `${lab} · ${s.name}: ${num(v)}`)));
        x0 += w;
      }
      root.append(svg('text', { x: x0 + 6, y: y + 15, class: 'axis' }, short(totals[i])));
    }
    const more = n > shown ? el('p', { class: 'muted' }, `and ${n - shown} more in the table below`) : null;
    return el('div', null, root, legend(series), more);
  }

  const reqSeries = (groups) => [
    { name: 'successes', cls: 's-ok', values: groups.map((g) => g.successes) },
    { name: 'failures', cls: 's-fail', values: groups.map((g) => g.failures) },
  ];
  const tokSeries = (groups) => [
    { name: 'input tokens', cls: 's-in', values: groups.map((g) => g.input_tokens) },
    { name: 'output tokens', cls: 's-out', values: groups.map((g) => g.output_tokens) },
  ];

  // fillDays adds the days without requests, so a day chart has no gaps.
  function fillDays(groups, days) {
    const byDay = new Map(groups.map((g) => [g.group, g]));
    const have = groups.map((g) => g.group).filter((d) => /^\d{4}-\d{2}-\d{2}$/.test(d)).sort();
    const last = have.length ? have[have.length - 1] : null;
    if (!last) return groups;
    const end = new Date(last + 'T00:00:00Z');
    const out = [];
    for (let i = days - 1; i >= 0; i--) {
      const d = new Date(end.getTime() - i * 86400000).toISOString().slice(0, 10);
      out.push(byDay.get(d) || { group: d, requests: 0, successes: 0, failures: 0, input_tokens: 0, output_tokens: 0 });
    }
    return out;
  }
  const dayLabel = (d) => (/^\d{4}-\d{2}-\d{2}$/.test(d) ? d.slice(5) : d);
  const hourLabel = (h) => (/T\d{2}/.test(h) ? h.slice(5, 10).replace('-', '/') + ' ' + h.slice(11, 13) + 'h' : h);

  // ---- state and shell ----

  const state = {
    instances: [],
    instance: '',
    tab: 'overview',
    keys: [],
    clientsAvailable: true,
  };
  let refreshing = null;

  function showBanner(msg) {
    const b = $('banner');
    b.textContent = msg;
    b.hidden = false;
  }
  function hideBanner() {
    $('banner').hidden = true;
  }
  let toastTimer = 0;
  function toast(msg, bad) {
    const t = $('toast');
    t.textContent = msg;
    t.className = 'toast' + (bad ? ' bad' : '');
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { t.hidden = true; }, bad ? 8000 : 3500);
  }

  function renderInstances() {
    const sel = $('instance');
    const names = state.instances.map((i) => i.name);
    if (!names.includes(state.instance)) {
      const saved = sessionStorage.getItem('llmp-instance');
      state.instance = names.includes(saved) ? saved : names[0] || '';
    }
    $('instance-wrap').hidden = names.length < 2;
    $('instance-name').textContent = names.length === 1 ? names[0] : '';
    const cur = [...sel.options].map((o) => o.value).join('\n');
    if (cur !== names.join('\n')) sel.replaceChildren(...names.map((n) => el('option', { value: n }, n)));
    sel.value = state.instance;
  }

  function showTab() {
    const tab = (location.hash || '#overview').slice(1);
    state.tab = pages[tab] ? tab : 'overview';
    for (const s of document.querySelectorAll('.page')) s.hidden = s.dataset.page !== state.tab;
    for (const a of document.querySelectorAll('#tabs a')) {
      if (a.dataset.tab === state.tab) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
  }

  async function refresh() {
    if (refreshing) return refreshing;
    refreshing = (async () => {
      try {
        const data = await api('GET', '');
        state.instances = data.instances || [];
        renderInstances();
        if (!state.instance) {
          showBanner('No llm_proxy instance is running.');
          return;
        }
        await pages[state.tab].load();
        hideBanner();
        $('status').textContent = 'updated ' + new Date().toLocaleTimeString();
      } catch (e) {
        showBanner(e.message || String(e));
        $('status').textContent = 'update failed';
      } finally {
        refreshing = null;
      }
    })();
    return refreshing;
  }

  // act runs a change through the API, says how it went, and refreshes.
  async function act(what, fn) {
    try {
      const res = await fn();
      toast(what);
      await refresh();
      return res;
    } catch (e) {
      toast(e.message || String(e), true);
      return undefined;
    }
  }

  function confirmDialog(text) {
    const d = $('dlg-confirm');
    $('confirm-text').textContent = text;
    d.showModal();
    return new Promise((resolve) => {
      let answer = false;
      $('confirm-yes').onclick = () => {
        answer = true;
        d.close();
      };
      $('confirm-no').onclick = () => d.close();
      // Escape closes the dialog too: that is a no.
      d.addEventListener('close', () => resolve(answer), { once: true });
    });
  }

  // ---- overview ----

  async function loadOverview() {
    const [keys, today, days] = await Promise.all([
      api('GET', inst('keys')),
      api('GET', inst('usage?by=day&days=1')),
      api('GET', inst('usage?by=day&days=14')),
    ]);
    state.keys = keys.keys || [];
    const t = (today.groups || [])[0] || { requests: 0, successes: 0, failures: 0, input_tokens: 0, output_tokens: 0 };
    const summary = state.instances.find((i) => i.name === state.instance) || { keys: {} };
    const counts = summary.keys || {};
    const errRate = t.requests ? ' (' + ((t.failures / t.requests) * 100).toFixed(1) + '%)' : '';
    $('ov-cards').replaceChildren(
      card('Requests today', num(t.requests), num(t.successes) + ' succeeded'),
      card('Errors today', num(t.failures), t.requests ? 'of all requests' + errRate : 'no requests yet', t.failures ? 'bad' : ''),
      card('Tokens today', short(t.input_tokens + t.output_tokens), short(t.input_tokens) + ' in · ' + short(t.output_tokens) + ' out'),
      card('Keys', num(STATES.reduce((a, s) => a + (counts[s] || 0), 0)),
        el('span', { class: 'states' }, STATES.map((s) => el('span', null, badge(s), ' ', num(counts[s] || 0))))),
    );
    const g = fillDays((days.groups || []).slice().sort((a, b) => (a.group < b.group ? -1 : 1)), 14);
    const labels = g.map((x) => x.group);
    $('ov-req-chart').replaceChildren(columnChart(labels, reqSeries(g), dayLabel, $('ov-req-chart').clientWidth));
    $('ov-tok-chart').replaceChildren(columnChart(labels, tokSeries(g), dayLabel, $('ov-tok-chart').clientWidth));

    const ups = new Map();
    for (const k of state.keys) {
      if (!ups.has(k.upstream)) ups.set(k.upstream, { upstream: k.upstream, total: 0, active: 0, cooling: 0, exhausted: 0, disabled: 0 });
      const u = ups.get(k.upstream);
      u.total++;
      if (u[k.state] != null) u[k.state]++;
    }
    $('ov-upstreams').replaceChildren(table([
      { title: 'upstream', cell: (u) => u.upstream },
      ...STATES.map((s) => ({ title: s, cls: 'num', cell: (u) => (u[s] ? el('span', null, badge(s), ' ', num(u[s])) : '0') })),
      { title: 'keys', cls: 'num', cell: (u) => num(u.total) },
    ], [...ups.values()], 'No keys.'));
  }

  function card(title, value, sub, cls) {
    return el('div', { class: 'card ' + (cls || '') }, el('div', { class: 'ctitle' }, title), el('div', { class: 'cvalue' }, value), el('div', { class: 'csub' }, sub));
  }

  // ---- keys ----

  async function loadKeys() {
    const data = await api('GET', inst('keys'));
    state.keys = data.keys || [];
    renderKeys();
  }

  function renderKeys() {
    const f = $('keys-filter').value.trim().toLowerCase();
    const rows = state.keys.filter((k) => !f || [k.id, k.upstream, k.state, k.note, k.reason, k.source, k.key].some((v) => String(v || '').toLowerCase().includes(f)));
    const cols = [
      { title: 'key', cell: (k) => el('div', null, el('div', { class: 'mono strong keyid' }, k.id), el('div', { class: 'muted mono' }, k.key), el('div', { class: 'muted' }, 'upstream ', k.upstream, ' · weight ', num(k.weight))) },
      { title: 'state', cell: (k) => el('div', null, badge(k.state), k.reason ? el('div', { class: 'muted small reason' }, k.reason) : null, k.until ? el('div', { class: 'muted small' }, until(k.until)) : null) },
      { title: 'usage', cls: 'usage', cell: (k) => usageBars(k) },
      { title: 'source', cell: (k) => el('div', null, k.source, k.note ? el('div', { class: 'muted small' }, k.note) : null, (k.overrides || []).length ? el('div', { class: 'muted small' }, 'changed: ' + k.overrides.join(', ')) : null) },
      { title: 'actions', cls: 'act', cell: (k) => keyActions(k) },
    ];
    cols.rowClass = (k) => 'row-' + k.state;
    // "until" is shown as the time left, which changes by itself.
    const clock = rows.some((k) => k.until) ? Math.floor(Date.now() / 1000) : 0;
    show('keys-table', JSON.stringify([state.instance, rows, clock]),
      () => table(cols, rows, state.keys.length ? 'No key matches the filter.' : 'No keys.'));
  }

  // usageBars shows a key's or a client's usage against each of its limits.
  function usageBars(o) {
    const l = o.limits || {};
    const u = o.usage || {};
    return el('div', { class: 'ubars' },
      usageBar('rpm', u.minute, l.rpm),
      usageBar('rpd', u.day, l.rpd),
      usageBar('tpd', u.tokens_day, l.tpd),
      usageBar('in flight', u.in_flight, l.concurrency),
      l.tpm ? el('div', { class: 'muted small' }, 'tpm limit ', num(l.tpm)) : null,
      l.interval ? el('div', { class: 'muted small' }, 'interval ', l.interval) : null,
      el('div', { class: 'muted small' }, num(u.total || 0), ' requests, ', short(u.tokens_total || 0), ' tokens in total'));
  }

  function keyActions(k) {
    const id = k.id;
    const disabled = k.state === 'disabled';
    return el('div', { class: 'btns' },
      el('button', { type: 'button', 'data-action': 'edit', 'data-id': id, onclick: () => openKey(k) }, 'Edit'),
      el('button', {
        type: 'button', 'data-action': disabled ? 'enable' : 'disable', 'data-id': id,
        onclick: () => act((disabled ? 'Enabled ' : 'Disabled ') + id, () => api('PATCH', inst('keys/' + seg(id)), { disabled: !disabled })),
      }, disabled ? 'Enable' : 'Disable'),
      el('button', {
        type: 'button', 'data-action': 'reset', 'data-id': id,
        onclick: () => act('Reset ' + id, () => api('POST', inst('keys/' + seg(id) + '/reset'))),
      }, 'Reset'),
      k.source === 'admin' ? el('button', {
        type: 'button', class: 'danger', 'data-action': 'delete', 'data-id': id,
        onclick: async () => {
          if (await confirmDialog('Delete the key ' + id + ' (' + k.key + ')? This cannot be undone.')) {
            act('Deleted ' + id, () => api('DELETE', inst('keys/' + seg(id))));
          }
        },
      }, 'Delete') : null);
  }

  let editingKey = null;

  function openKey(k) {
    editingKey = k;
    $('key-title').textContent = 'Edit ' + k.id;
    $('key-weight').value = k.weight != null ? k.weight : '';
    for (const n of LIMIT_NAMES.slice(1)) $('key-' + n).value = k.limits && k.limits[n] != null ? k.limits[n] : '';
    $('key-note').value = k.note || '';
    $('key-error').hidden = true;
    $('dlg-key').showModal();
  }

  // submitKey sends what changed; an emptied limit is sent as null, which
  // reverts it to the configured value.
  async function submitKey() {
    const err = $('key-error');
    err.hidden = true;
    const k = editingKey;
    try {
      const lim = readLimits('key-', LIMIT_NAMES);
      const body = {};
      for (const n of LIMIT_NAMES) {
        const before = n === 'weight' ? k.weight : k.limits ? k.limits[n] : undefined;
        if (lim[n] !== undefined && String(lim[n]) !== String(before)) body[n] = lim[n];
        if (lim[n] === undefined && before != null) body[n] = null;
      }
      const note = $('key-note').value.trim();
      if (note !== (k.note || '')) body.note = note;
      if (Object.keys(body).length) await api('PATCH', inst('keys/' + seg(k.id)), body);
      $('dlg-key').close();
      toast('Saved ' + k.id);
      await refresh();
    } catch (e) {
      err.textContent = e.message || String(e);
      err.hidden = false;
    }
  }

  function openAddKeys() {
    const ups = new Set(state.keys.map((k) => k.upstream));
    $('upstream-list').replaceChildren(...[...ups].sort().map((u) => el('option', { value: u })));
    if (!$('addkeys-upstream').value && ups.size === 1) $('addkeys-upstream').value = [...ups][0];
    $('addkeys-error').hidden = true;
    $('dlg-keys').showModal();
    $('addkeys-keys').focus();
  }

  // readLimits reads limit inputs; null when one is not a number.
  function readLimits(prefix, names) {
    const out = {};
    for (const n of names) {
      const v = $(prefix + n).value.trim();
      if (!v) continue;
      if (n === 'interval') {
        out[n] = v;
        continue;
      }
      if (!/^\d+$/.test(v)) throw new Error(n + ' must be a whole number');
      out[n] = Number(v);
    }
    return out;
  }

  async function submitAddKeys() {
    const err = $('addkeys-error');
    err.hidden = true;
    try {
      const secrets = $('addkeys-keys').value.split(/\r?\n/).map((s) => s.trim()).filter(Boolean);
      const upstream = $('addkeys-upstream').value.trim();
      if (!secrets.length) throw new Error('Enter at least one key.');
      if (!upstream) throw new Error('Choose the upstream the keys belong to.');
      const lim = readLimits('addkeys-', LIMIT_NAMES);
      const note = $('addkeys-note').value.trim();
      const body = secrets.map((key) => Object.assign({ upstream, key }, lim, note ? { note } : {}));
      const res = await api('POST', inst('keys'), body);
      $('addkeys-keys').value = '';
      $('dlg-keys').close();
      toast('Added ' + (res.ids || []).length + ' key(s)');
      await refresh();
    } catch (e) {
      err.textContent = e.message || String(e);
      err.hidden = false;
    }
  }

  async function checkAll() {
    const btn = $('keys-check');
    btn.disabled = true;
    btn.textContent = 'Checking…';
    try {
      const res = await api('POST', inst('keys/check'));
      const results = res.results || [];
      const bad = results.filter((r) => !r.ok);
      $('keys-check-result').replaceChildren(el('div', { class: 'panel check' },
        el('h2', null, 'Check: ', num(results.length - bad.length), ' of ', num(results.length), ' keys answered'),
        bad.length ? table([
          { title: 'key', cell: (r) => el('span', { class: 'mono keyid' }, r.id) },
          { title: 'status', cell: (r) => (r.status ? statusBadge(r.status) : 'unreachable') },
          { title: 'state', cell: (r) => badge(r.state) },
          { title: 'error', cell: (r) => r.error },
        ], bad) : null,
        el('button', { type: 'button', onclick: () => $('keys-check-result').replaceChildren() }, 'Close')));
      await refresh();
    } catch (e) {
      toast(e.message || String(e), true);
    } finally {
      btn.disabled = false;
      btn.textContent = 'Check all keys';
    }
  }

  // ---- clients ----

  let clientsCache = [];
  let editing = null; // the client being edited, or null when creating one

  async function loadClients() {
    let data;
    try {
      data = await api('GET', inst('clients'));
    } catch (e) {
      if (e.status === 404 || e.status === 405) {
        state.clientsAvailable = false;
        $('clients-toolbar').hidden = true;
        shownSig.set('clients-table', 'not available');
        $('clients-table').replaceChildren(el('div', { class: 'panel notice' },
          el('h2', null, 'Clients are not available'),
          el('p', null, 'This llm_proxy has no clients admin API (GET …/clients answered ' + e.status + '). Clients come with a newer build of the module.')));
        return;
      }
      throw e;
    }
    state.clientsAvailable = true;
    $('clients-toolbar').hidden = false;
    clientsCache = data.clients || [];
    const cols = [
      { title: 'client', cell: (c) => el('div', null, el('div', { class: 'strong cname' }, c.name), el('div', { class: 'muted mono csecrets' }, (c.keys || []).join(' '))) },
      { title: 'state', cell: (c) => badge(clientState(c)) },
      { title: 'models', cell: (c) => ((c.models || []).length ? el('span', { class: 'mono' }, c.models.join(' ')) : el('span', { class: 'muted' }, 'every model')) },
      { title: 'usage', cls: 'usage', cell: (c) => usageBars(c) },
      { title: 'source', cell: (c) => el('div', null, el('span', { class: 'csource' }, c.source || ''),
        (c.overrides || []).length ? el('div', { class: 'muted small' }, 'changed: ', c.overrides.join(', ')) : null,
        c.created ? el('div', { class: 'muted small' }, 'made ', clock(c.created)) : null,
        c.note ? el('div', { class: 'muted small cnote' }, c.note) : null) },
      { title: 'actions', cls: 'act', cell: (c) => clientActions(c) },
    ];
    cols.rowClass = (c) => 'row-' + clientState(c);
    show('clients-table', JSON.stringify([state.instance, clientsCache]), () => table(cols, clientsCache, 'No clients.'));
  }

  // clientState is what GET …/clients reports: "active" or "disabled".
  function clientState(c) {
    return c.state || 'active';
  }
  function clientActions(c) {
    const name = c.name;
    const disabled = clientState(c) === 'disabled';
    // Only a client made through the API has a secret of the proxy's
    // making to rotate, and can be deleted (a Caddyfile client answers 409).
    const admin = c.source === 'admin';
    return el('div', { class: 'btns' },
      el('button', { type: 'button', 'data-action': 'edit', 'data-name': name, onclick: () => openClient(c) }, 'Edit'),
      el('button', {
        type: 'button', 'data-action': disabled ? 'enable' : 'disable', 'data-name': name,
        onclick: () => act((disabled ? 'Enabled ' : 'Disabled ') + name, () => api('PATCH', inst('clients/' + seg(name)), { disabled: !disabled })),
      }, disabled ? 'Enable' : 'Disable'),
      admin ? el('button', {
        type: 'button', 'data-action': 'rotate', 'data-name': name,
        onclick: async () => {
          if (!(await confirmDialog('Give ' + name + ' a new secret? The current one stops working at once.'))) return;
          const res = await act('Rotated the secret of ' + name, () => api('POST', inst('clients/' + seg(name) + '/rotate')));
          if (res && res.key) showSecret(res.name || name, res.key);
        },
      }, 'Rotate') : null,
      admin ? el('button', {
        type: 'button', class: 'danger', 'data-action': 'delete', 'data-name': name,
        onclick: async () => {
          if (await confirmDialog('Delete the client ' + name + '? Its secret stops working at once.')) {
            act('Deleted ' + name, () => api('DELETE', inst('clients/' + seg(name))));
          }
        },
      }, 'Delete') : null);
  }

  function openClient(c) {
    editing = c || null;
    $('client-title').textContent = c ? 'Edit ' + c.name : 'New client';
    $('client-submit').textContent = c ? 'Save' : 'Create';
    $('client-name').value = c ? c.name : '';
    $('client-name').disabled = !!c;
    $('client-models').value = c ? (c.models || []).join(' ') : '';
    for (const n of CLIENT_LIMITS) $('client-' + n).value = c && c.limits && c.limits[n] != null ? c.limits[n] : '';
    $('client-note').value = c ? c.note || '' : '';
    // An emptied limit is sent as null: back to the Caddyfile's value for
    // a Caddyfile client, none for one made through the API.
    $('client-limits-legend').textContent = c && c.source === 'config' ? 'Limits (empty: the Caddyfile\'s; 0: unlimited)' : 'Limits (empty: unlimited)';
    $('client-error').hidden = true;
    $('dlg-client').showModal();
  }

  async function submitClient() {
    const err = $('client-error');
    err.hidden = true;
    try {
      const models = $('client-models').value.split(/\s+/).filter(Boolean);
      const lim = readLimits('client-', CLIENT_LIMITS);
      const note = $('client-note').value.trim();
      if (!editing) {
        const name = $('client-name').value.trim();
        if (!name) throw new Error('Enter a name.');
        const body = Object.assign({ name }, models.length ? { models } : {}, lim, note ? { note } : {});
        const res = await api('POST', inst('clients'), body);
        $('dlg-client').close();
        toast('Created ' + name);
        if (res && res.key) showSecret(res.name || name, res.key);
        await refresh();
        return;
      }
      // Send only what changed; an emptied limit is sent as null: back to
      // the Caddyfile's value, or none for a client made through the API.
      const old = editing;
      const body = {};
      if (models.join(' ') !== (old.models || []).join(' ')) body.models = models;
      for (const n of CLIENT_LIMITS) {
        const before = old.limits ? old.limits[n] : undefined;
        if (lim[n] !== undefined && lim[n] !== before) body[n] = lim[n];
        if (lim[n] === undefined && before != null) body[n] = null;
      }
      if (note !== (old.note || '')) body.note = note;
      if (Object.keys(body).length) await api('PATCH', inst('clients/' + seg(old.name)), body);
      $('dlg-client').close();
      toast('Saved ' + old.name);
      await refresh();
    } catch (e) {
      err.textContent = e.message || String(e);
      err.hidden = false;
    }
  }

  function showSecret(name, key) {
    $('secret-name').textContent = name;
    $('secret-value').textContent = key;
    $('secret-copy').textContent = 'Copy';
    $('dlg-secret').showModal();
  }

  async function copySecret() {
    const text = $('secret-value').textContent;
    try {
      await navigator.clipboard.writeText(text);
      $('secret-copy').textContent = 'Copied';
    } catch (_) {
      // No clipboard access (plain HTTP, permissions): select it for Ctrl+C.
      const r = document.createRange();
      r.selectNodeContents($('secret-value'));
      const s = window.getSelection();
      s.removeAllRanges();
      s.addRange(r);
      $('secret-copy').textContent = 'Selected: press Ctrl+C';
    }
  }

  // ---- usage ----

  async function loadUsage() {
    const by = $('usage-by').value;
    const days = $('usage-days').value;
    let data;
    try {
      data = await api('GET', inst('usage?by=' + seg(by) + (days ? '&days=' + seg(days) : '')));
    } catch (e) {
      if (e.status === 400 && by === 'client') {
        const msg = el('p', { class: 'empty' }, 'Usage by client is not available in this build: ' + e.message);
        $('usage-req-chart').replaceChildren(msg);
        $('usage-tok-chart').replaceChildren();
        $('usage-table').replaceChildren();
        return;
      }
      throw e;
    }
    let groups = (data.groups || []).slice();
    const timed = by === 'day' || by === 'hour';
    if (timed) groups.sort((a, b) => (a.group < b.group ? -1 : 1));
    else groups.sort((a, b) => b.requests - a.requests || (a.group < b.group ? -1 : 1));
    if (by === 'day' && days) groups = fillDays(groups, Number(days));
    const labels = groups.map((g) => g.group);
    if (timed) {
      const fmt = by === 'day' ? dayLabel : hourLabel;
      $('usage-req-chart').replaceChildren(columnChart(labels, reqSeries(groups), fmt, $('usage-req-chart').clientWidth));
      $('usage-tok-chart').replaceChildren(columnChart(labels, tokSeries(groups), fmt, $('usage-tok-chart').clientWidth));
    } else {
      $('usage-req-chart').replaceChildren(barChart(labels, reqSeries(groups), $('usage-req-chart').clientWidth));
      $('usage-tok-chart').replaceChildren(barChart(labels, tokSeries(groups), $('usage-tok-chart').clientWidth));
    }
    const rows = timed ? groups.slice().reverse() : groups;
    $('usage-table').replaceChildren(table([
      { title: by, cell: (g) => el('span', { class: by === 'key' ? 'mono' : null }, g.group) },
      { title: 'requests', cls: 'num', cell: (g) => num(g.requests) },
      { title: 'successes', cls: 'num', cell: (g) => num(g.successes) },
      { title: 'failures', cls: 'num', cell: (g) => (g.failures ? el('span', { class: 'bad' }, num(g.failures)) : '0') },
      { title: 'input tokens', cls: 'num', cell: (g) => num(g.input_tokens) },
      { title: 'output tokens', cls: 'num', cell: (g) => num(g.output_tokens) },
    ], rows.filter((g) => g.requests || !timed), 'No requests in this period.'));
  }

  // ---- logs ----

  const LOG_FILTERS = [['model', 'model'], ['upstream', 'upstream'], ['client', 'client'], ['key', 'key_id']];

  async function loadLogs() {
    const data = await api('GET', inst('logs?limit=' + seg($('logs-limit').value)));
    const logs = data.logs || [];
    for (const [name, field] of LOG_FILTERS) {
      const sel = $('logs-' + name);
      const cur = sel.value;
      const vals = [...new Set(logs.map((l) => l[field]).filter(Boolean))].sort();
      if (cur && !vals.includes(cur)) vals.unshift(cur);
      const want = ['', ...vals].join('\n');
      if ([...sel.options].map((o) => o.value).join('\n') !== want) {
        sel.replaceChildren(el('option', { value: '' }, 'all'), ...vals.map((v) => el('option', { value: v }, v)));
        sel.value = cur;
      }
    }
    const errorsOnly = $('logs-errors').checked;
    const rows = logs.filter((l) => (!errorsOnly || l.status >= 400 || l.error) &&
      LOG_FILTERS.every(([name, field]) => !$('logs-' + name).value || l[field] === $('logs-' + name).value));
    const cols = [
      { title: 'time', cell: (l) => el('span', { class: 'nowrap' }, clock(l.time)) },
      { title: 'status', cell: (l) => statusBadge(l.status) },
      { title: 'client', cell: (l) => l.client },
      { title: 'api', cell: (l) => l.api },
      { title: 'model', cell: (l) => el('div', null, l.model, l.upstream_model && l.upstream_model !== l.model ? el('div', { class: 'muted small' }, '→ ', l.upstream_model) : null) },
      { title: 'upstream · key', cell: (l) => el('div', null, l.upstream || '–', l.key_id ? el('div', { class: 'muted small mono' }, l.key_id) : null) },
      { title: 'latency', cls: 'num', cell: (l) => el('div', null, num(l.latency_ms), ' ms', l.ttfb_ms ? el('div', { class: 'muted small' }, 'first byte ', num(l.ttfb_ms), ' ms') : null) },
      { title: 'tokens', cls: 'num', cell: (l) => num(l.input_tokens) + ' / ' + num(l.output_tokens) },
      { title: 'error', cls: 'err', cell: (l) => l.error },
    ];
    cols.rowClass = (l) => (l.status >= 400 || l.error ? 'row-error' : null);
    $('logs-table').replaceChildren(table(cols, rows, logs.length ? 'No request matches the filters.' : 'No requests yet.'));
  }

  // ---- models ----

  async function loadModels() {
    const data = await api('GET', inst('models'));
    $('models-table').replaceChildren(table([
      { title: 'model', cell: (m) => el('span', { class: 'mono strong' }, m.model) },
      { title: 'kind', cell: (m) => m.kind || '' },
      { title: 'served by', cell: (m) => el('ul', { class: 'targets' }, (m.targets || []).map((t) =>
        el('li', null, el('span', { class: 'strong' }, t.upstream), ' → ', el('span', { class: 'mono' }, t.model), t.priority ? el('span', { class: 'muted' }, ' (priority ' + t.priority + ')') : null))) },
    ], data.models || [], 'No models.'));
  }

  const pages = {
    overview: { load: loadOverview },
    keys: { load: loadKeys },
    clients: { load: loadClients },
    usage: { load: loadUsage },
    logs: { load: loadLogs },
    models: { load: loadModels },
  };

  // ---- wiring ----

  function start() {
    window.addEventListener('hashchange', () => {
      showTab();
      refresh();
    });
    $('instance').addEventListener('change', (e) => {
      state.instance = e.target.value;
      sessionStorage.setItem('llmp-instance', state.instance);
      refresh();
    });
    $('refresh').addEventListener('click', () => refresh());
    $('keys-add').addEventListener('click', openAddKeys);
    $('addkeys-submit').addEventListener('click', submitAddKeys);
    $('keys-check').addEventListener('click', checkAll);
    $('key-submit').addEventListener('click', submitKey);
    $('keys-filter').addEventListener('input', renderKeys);
    $('clients-add').addEventListener('click', () => openClient(null));
    $('client-submit').addEventListener('click', submitClient);
    $('secret-copy').addEventListener('click', copySecret);
    $('dlg-secret').addEventListener('close', () => { $('secret-value').textContent = ''; });
    for (const b of document.querySelectorAll('dialog [data-close]')) b.addEventListener('click', () => b.closest('dialog').close());
    for (const id of ['usage-by', 'usage-days', 'logs-limit']) $(id).addEventListener('change', () => refresh());
    for (const id of ['logs-errors', 'logs-model', 'logs-upstream', 'logs-client', 'logs-key']) $(id).addEventListener('change', () => refresh());
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden) refresh();
    });
    // Refresh by itself, but not while a dialog is open (the answer would
    // not show) or the tab is hidden.
    setInterval(() => {
      if (document.hidden || document.querySelector('dialog[open]')) return;
      refresh();
    }, REFRESH_MS);
    showTab();
    refresh();
  }

  start();
})();
