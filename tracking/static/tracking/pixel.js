/*
 * Simple Analytics tracker. Readable source, served minified (rjsmin): at /pixel.js
 * without the blocks marked "full:", at /pixel.full.js with them (tracking/pixel.py).
 *
 *   <script defer src="https://HOST/pixel.js" data-site="TRACKING_ID"></script>
 *
 * Sends PAGE_VIEW on load, PATH_CHANGE when an SPA changes the path (pushState,
 * replaceState, popstate; at most 30 a minute) and PAGE_EXIT whenever the page is hidden
 * (closed, left, another tab). The page left is reported with the PATH_CHANGE or PAGE_EXIT
 * that leaves it: its visible and focused time since its last report (engaged_ms) and its
 * deepest scroll (scroll_pct, percent of the page's height); a page hidden and shown again
 * reports only its new time (docs/TRACKER.md). sa("event", "Name", {key: "value"}) sends
 * a custom EVENT; calls queued by the stub before the script ran go out after the
 * PAGE_VIEW, in order.
 * Every event carries a random id; a send that fails (network error or 5xx) is retried
 * twice with the same id, so the server stores it once.
 * No cookies, no storage, but for the visitor's own opt-out: a page address ending in
 * #sa-ignore sets "sa_ignore" in localStorage, and this browser then sends nothing to
 * the site; #sa-track removes it (docs/TRACKER.md).
 * Never throws into the host page; bad arguments are ignored.
 *
 * rjsmin keeps names, so one-letter names (and no semicolon before a closing brace) save
 * bytes of the 1,000 B gzip budget: D = document, s = the script tag, u = the endpoint,
 * q = the send queue, w = post in the queue, n = tries so far, e = send an event, b = by
 * beacon, p = the page's path, m = its engaged time not reported yet, t = when it last got
 * the focus (false while it has none), y = its deepest scroll (percent), a = account time
 * and scroll, r = the report of the page, g = a new page, k = path changes this minute,
 * c = check whether the path changed.
 */
(() => {
  try {
    const D = document,
      s = D.currentScript,
      site = s.getAttribute("data-site");
    if (
      !site ||
      navigator.webdriver ||
      // file: pages have no host name: the empty alternative.
      (/^(localhost|127(\.\d+){3}|\[::1\]|)$/.test(location.hostname) &&
        !s.hasAttribute("data-allow-localhost"))
    ) return;
    // The visitor's own switch, in this browser only. Storage may throw (blocked cookies,
    // some private modes): then there is no switch, and the visit is tracked.
    try {
      const h = location.hash,
        l = localStorage;
      if (h === "#sa-track") delete l.sa_ignore;
      if (h === "#sa-ignore" || l.sa_ignore) return l.sa_ignore = 1;
    } catch {}
    // tracking/pixel.py writes the configured TRACKER_ENDPOINT_PATH over the path below.
    const u = (s.getAttribute("data-api") || new URL(s.src).origin) + "/api/event";
    let p, m, t, y, k = 0,
      // Events go out one after another: the server answers after the commit, so a quick
      // PATH_CHANGE can never overtake the PAGE_VIEW that opens the session.
      q = Promise.resolve();

    const w = (body, n) => {
        q = q
          // A string body goes as text/plain: a "simple" CORS request, no preflight.
          // No credentials option: a beacon would send the cookies of the API's origin too,
          // and the endpoint never reads them.
          .then(() => fetch(u, { method: "POST", body, keepalive: 1 }))
          .then(r => {
            if (r.status > 499) throw r
          })
          // The same body and so the same id: a retry of an event that did arrive is dropped.
          .catch(() => n < 3 && setTimeout(w, n * 2e3, body, n + 1))
      },
      // A beacon outlives the page (an exit, a click that leaves) but bypasses the queue.
      e = (type, b, x) => {
        try {
          const body = JSON.stringify({
            site,
            type,
            url: location.href,
            screen: screen.width,
            // Two random numbers, "0.123...-0.456...": unique enough to recognise a retry.
            id: Math.random() + "-" + Math.random(),
            ...x
          });
          // Some browsers let users switch beacons off: then the request goes by fetch.
          (b && navigator.sendBeacon && navigator.sendBeacon(u, body)) || w(body, 1);
        } catch {}
      },
      // Engaged time counts while the page has the focus (a hidden page never has), and
      // the deepest scroll is noted: on every change of either, and before a report.
      a = () => {
        m += t && Date.now() - t;
        t = D.hasFocus() && Date.now();
        y = Math.min(100, Math.max(y, 100 * (scrollY + innerHeight) / D.documentElement.scrollHeight | 0))
      },
      // The report of the page: its time since the last one (the caller sets m = 0 once
      // the report is made), so a page hidden and shown again adds only new time.
      r = () => (a(), { engaged_ms: m, scroll_pct: y }),
      // A new page: its path, its engagement from zero, its view (x: the report of the page
      // left, or the landing page's referrer: the server ignores internal ones).
      g = (type, x) => {
        p = location.pathname;
        m = t = 0;
        a();
        // The depth is the route's from its first scroll or its report on: at a pushState
        // the router may not have drawn the route yet.
        y = 0;
        e(type, 0, x)
      },
      // The same path again sends nothing, and a router stuck in a loop cannot flood.
      c = () => location.pathname !== p && ++k < 31 && g("PATH_CHANGE", r()),
      // The public API. The server checks the name and props (a 400 stores nothing).
      sa = (kind, name, props) => {
        // name + "" === name: a string.
        if (kind === "event" && name + "" === name) e("EVENT", 0, { name, props })
      };

    for (const v of ["pushState", "replaceState"]) {
      const f = history[v];
      history[v] = function (...a) {
        // A call that throws has not changed the path: nothing to check then. c() cannot
        // throw into the caller: e() swallows its own errors.
        const r = f.apply(this, a);
        c();
        return r
      };
    }
    setInterval(() => (k = 0), 6e4);
    addEventListener("popstate", c);
    for (const v of ["scroll", "focus", "blur"]) addEventListener(v, a);
    // Back/forward cache: a restored page is viewed again and may exit again.
    addEventListener("pageshow", v => v.persisted && g("PAGE_VIEW"));
    // Hidden: the tab left, the window closed or the page unloaded (the last event that
    // fires on every platform). Shown again: no new view, its time goes on from zero.
    D.addEventListener("visibilitychange", () =>
      D.hidden ? e("PAGE_EXIT", 1, r(), m = 0) : a()
    );

    /* full: automatic events, switched on by attributes of the script tag. */
    const downloads = s.getAttribute("data-file-downloads");
    const outbound = s.hasAttribute("data-outbound-links");
    const tagged = s.hasAttribute("data-tagged-events");
    const extensions = (
      downloads || "pdf,csv,txt,docx,xlsx,pptx,odt,ods,zip,gz,7z,rar,dmg,exe,msi,pkg,mp3,mp4,mov"
    )
      .toLowerCase()
      .split(/[\s,.]+/);
    // The click may be the last thing the page does (a link that leaves): send a beacon.
    const auto = (name, props) => name && e("EVENT", 1, { name, props });
    const click = e => {
      try {
        // A middle click opens a link too (auxclick); a right click opens a menu.
        if (e.button > 1) return;
        const el = tagged && e.target.closest("[data-sa-event]");
        const link = e.target.closest("a[href]");
        if (el) {
          const props = {};
          for (const a of el.attributes)
            if (a.name.startsWith("data-sa-prop-")) props[a.name.slice(13)] = a.value;
          auto(el.getAttribute("data-sa-event"), props);
        } else if (link && link.host) {
          // No host: mailto:, tel:, javascript: and SVG links are neither.
          const props = { url: link.href };
          if (downloads !== null && extensions.includes(link.pathname.split(".").pop().toLowerCase()))
            auto("File Download", props);
          else if (outbound && link.host !== location.host) auto("Outbound Link: Click", props);
        }
      } catch {}
    };
    // Capturing: a page handler that stops the click's propagation does not hide it.
    document.addEventListener("click", click, true);
    document.addEventListener("auxclick", click, true);
    /* :full */

    g("PAGE_VIEW", { referrer: D.referrer });
    // The stub's queue: sent after the PAGE_VIEW, in the order of the calls.
    for (const a of (window.sa || 0).q || []) sa(...a);
    window.sa = sa;
  } catch {}
})();
