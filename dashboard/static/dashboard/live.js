// Polling of live.json: the current-visitors count, the live update of a dashboard whose
// period includes today, and the wait for a site's first event. Pauses while the tab is
// hidden; every failure says what happened instead of going blank.

const numberFormat = new Intl.NumberFormat("en-US");

// Times as the server writes them: the website's time zone, 24-hour, labelled.
export function clock(tz) {
  const options = { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" };
  let zone = tz || "UTC";
  let format;
  try {
    format = new Intl.DateTimeFormat("en-GB", { ...options, timeZone: zone });
  } catch {
    zone = "UTC";
    format = new Intl.DateTimeFormat("en-GB", { ...options, timeZone: zone });
  }
  return (date = new Date()) => `${format.format(date)} (${zone})`;
}

function failure(err) {
  return err instanceof TypeError ? "network error" : err.message || String(err);
}

// `url` may be a function: it is asked again before every request.
export function poll(url, everyMs, onData, onError) {
  let timer = null;
  let stopped = false;
  let busy = false;

  async function tick() {
    timer = null;
    if (busy) return;
    busy = true;
    try {
      const res = await fetch(typeof url === "function" ? url() : url, {
        headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" });
      // login_required answers a signed-out request with a redirect to the login page.
      if (res.redirected || res.status === 401 || res.status === 403) throw new Error("you are signed out; reload the page");
      if (!res.ok) throw new Error(`the server answered ${res.status}`);
      const data = await res.json();
      if (typeof data.current_visitors !== "number") throw new Error("unexpected answer");
      await onData(data);
    } catch (err) {
      onError(failure(err));
    }
    busy = false;
    schedule();
  }

  function schedule() {
    if (!stopped && !document.hidden && timer === null) timer = setTimeout(tick, everyMs);
  }

  document.addEventListener("visibilitychange", () => {
    if (document.hidden) {
      clearTimeout(timer);
      timer = null;
    } else if (!stopped && timer === null) {
      tick();
    }
  });
  schedule();
  return {
    now: () => { clearTimeout(timer); timer = null; tick(); },
    stop: () => { stopped = true; clearTimeout(timer); },
  };
}

function showCount(box, text, n, time) {
  const strong = document.createElement("strong");
  strong.dataset.liveCount = "";
  strong.textContent = numberFormat.format(n);
  text.replaceChildren(strong, ` current visitor${n === 1 ? "" : "s"}`);
  box.classList.remove("unavailable");
  box.title = `Distinct visitors with an event in the last 5 minutes; updated ${time()}`;
}

// Fields a person types or picks in (a filter, a segment's name), not the page's state.
const fields = (main) => main.querySelectorAll("input:not([type=hidden]), textarea, select");

// What a swap must not lose: the open tabs, open <details>, what was typed in a form, the
// focused element and the scroll position.
function remember(main) {
  const tabs = {};
  for (const panel of main.querySelectorAll("[data-tabs]")) {
    const on = panel.querySelector('[role="tab"][aria-selected="true"]');
    if (on) tabs[panel.dataset.tabs] = on.dataset.tab;
  }
  const open = Array.from(main.querySelectorAll("details"), (d) => d.open);
  let focus = null;
  const active = document.activeElement;
  if (active && active !== main && main.contains(active)) {
    const tag = active.tagName;
    // A row's link by where it goes: new rows may have moved it.
    if (active.id) focus = { id: active.id };
    else if (active.hasAttribute("href")) focus = { href: active.getAttribute("href") };
    else focus = { tag, index: Array.from(main.getElementsByTagName(tag)).indexOf(active) };
  }
  const typed = Array.from(fields(main), (f) => f.value);
  return { tabs, open, typed, focus, x: window.scrollX, y: window.scrollY };
}

function restore(main, state) {
  for (const panel of main.querySelectorAll("[data-tabs]")) {
    const want = state.tabs[panel.dataset.tabs];
    const tabs = Array.from(panel.querySelectorAll('[role="tab"]'));
    if (!want || !tabs.some((t) => t.dataset.tab === want)) continue;
    for (const t of tabs) {
      const on = t.dataset.tab === want;
      t.setAttribute("aria-selected", String(on));
      t.tabIndex = on ? 0 : -1;
      const target = panel.querySelector(`#${t.getAttribute("aria-controls")}`);
      if (target) target.hidden = !on;
    }
  }
  const details = main.querySelectorAll("details");
  if (details.length === state.open.length) details.forEach((d, i) => { d.open = state.open[i]; });
  const now = fields(main);
  if (now.length === state.typed.length) now.forEach((f, i) => { f.value = state.typed[i]; });
}

function refocus(main, state) {
  if (window.scrollX !== state.x || window.scrollY !== state.y) window.scrollTo(state.x, state.y);
  if (!state.focus) return;
  const { id, href, tag, index } = state.focus;
  const el = id ? document.getElementById(id)
    : href ? Array.from(main.querySelectorAll("[href]")).find((a) => a.getAttribute("href") === href)
      : main.getElementsByTagName(tag)[index];
  if (el && main.contains(el)) el.focus({ preventScroll: true });
}

async function fetchPage() {
  const res = await fetch(window.location.href, { credentials: "same-origin", cache: "no-store" });
  if (res.redirected && new URL(res.url).pathname !== window.location.pathname) {
    throw new Error("you are signed out; reload the page");
  }
  if (!res.ok) throw new Error(`the server answered ${res.status}`);
  return new DOMParser().parseFromString(await res.text(), "text/html");
}

// The same page fetched again, its main content swapped in place; `mount` wires a main
// element and returns what undoes it. Returns the stats version the new content shows.
async function swapMain(doc, mount, unmount) {
  const fresh = doc.getElementById("dash-main");
  const old = document.getElementById("dash-main");
  if (!fresh || !old) throw new Error("the page came back without a dashboard");
  const state = remember(old);
  const node = document.importNode(fresh, true);
  restore(node, state);
  unmount();
  old.replaceWith(node);
  const cleanup = mount(node);
  refocus(node, state);
  for (const name of ["data-range-text", "data-live-text"]) {
    const src = doc.querySelector(`[${name}]`);
    const dst = document.querySelector(`[${name}]`);
    // A copy of the list first: importing from a live NodeList would skip every other node.
    if (src && dst) dst.replaceChildren(...Array.from(src.childNodes).map((n) => document.importNode(n, true)));
  }
  return { cleanup, version: doc.getElementById("dash")?.dataset.version };
}

// The live count, and for a period that includes today the page's numbers, chart and
// panels: re-fetched when the website's stats version changed (the refresh job published
// and warmed new numbers), and on realtime also when the count changed or `data-refresh`
// seconds passed (its window slides).
export function startLive(dash, mount, cleanup) {
  const box = dash.querySelector("[data-live]");
  const text = dash.querySelector("[data-live-text]");
  const status = dash.querySelector("[data-status]");
  const time = clock(dash.dataset.tz);
  const every = Number(dash.dataset.livePoll || 10) * 1000;
  const refreshMs = Number(dash.dataset.refresh || 0) * 1000;
  let version = dash.dataset.version;
  const updates = version !== undefined;
  let undo = cleanup;
  // The count the page was rendered with: a visitor arriving before the first poll counts.
  const rendered = dash.querySelector("[data-live-count]")?.textContent.replace(/\D/g, "");
  let count = rendered ? Number(rendered) : null;
  let swapped = Date.now();
  const url = () => (updates ? `${dash.dataset.liveUrl}?version=${encodeURIComponent(version)}` : dash.dataset.liveUrl);
  const describe = () => (refreshMs ? `refreshes every ${refreshMs / 1000} s` : "new data shows by itself");
  const showStatus = (message, error = false) => {
    if (!status) return;
    status.classList.toggle("error", error);
    status.textContent = message;
  };

  if (updates) showStatus(`Updated ${time()} · ${describe()}`);
  poll(url, every, async (data) => {
    const n = data.current_visitors;
    if (box && text) showCount(box, text, n, time);
    const due = (data.version !== undefined && data.version !== version)
      || (refreshMs > 0 && (Date.now() - swapped >= refreshMs || (count !== null && n !== count)));
    count = n;
    if (!updates || !due) return;
    try {
      const doc = await fetchPage();
      const result = await swapMain(doc, mount, undo);
      undo = result.cleanup;
      version = result.version ?? data.version;
      swapped = Date.now();
      showStatus(`Updated ${time()} · ${describe()}`);
    } catch (err) {
      showStatus(`Could not update (${failure(err)}). Retrying in ${every / 1000} s.`, true);
    }
  }, (reason) => {
    if (!box || !text) return;
    text.textContent = "live count unavailable";
    box.classList.add("unavailable");
    box.title = `Live count unavailable: ${reason}. Retrying every ${every / 1000} seconds.`;
  });
}

export function waitForFirstEvent(dash) {
  const status = dash.querySelector("[data-wait-status]");
  const every = Number(dash.dataset.wait || 5) * 1000;
  const time = clock(dash.dataset.tz);
  let failures = 0;
  const poller = poll(dash.dataset.liveUrl, every, (data) => {
    failures = 0;
    status.classList.remove("error");
    if (data.has_data) {
      poller.stop();
      status.textContent = "First event received. Loading your dashboard…";
      window.location.reload();
    } else {
      status.textContent = `No events yet (last checked ${time()}). Checking every ${every / 1000} seconds.`;
    }
  }, (reason) => {
    failures += 1;
    status.classList.add("error");
    status.textContent = `Could not check for events (${reason}). Retrying in ${every / 1000} seconds${failures > 1 ? ` (${failures} failures in a row)` : ""}.`;
  });
}
