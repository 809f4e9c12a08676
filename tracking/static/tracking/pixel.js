/*
 * Simple Analytics tracker. Readable source, served minified (rjsmin): at /pixel.js
 * without the blocks marked "full:", at /pixel.full.js with them (tracking/pixel.py).
 *
 *   <script defer src="https://HOST/pixel.js" data-site="TRACKING_ID"></script>
 *
 * Sends PAGE_VIEW on load, PATH_CHANGE when an SPA changes the path (pushState,
 * replaceState, popstate; at most 30 a minute) and one PAGE_EXIT per page with its
 * visible (engaged) time. sa("event", "Name", {key: "value"}) sends a custom EVENT; calls
 * queued by the stub before the script ran go out after the PAGE_VIEW, in order.
 * Every event carries a random id; a send that fails (network error or 5xx) is retried
 * twice with the same id, so the server stores it once.
 * No cookies, no storage, but for the visitor's own opt-out: a page address ending in
 * #sa-ignore sets "sa_ignore" in localStorage, and this browser then sends nothing to
 * the site; #sa-track removes it (docs/TRACKER.md).
 * Never throws into the host page; bad arguments are ignored.
 *
 * rjsmin keeps names, so one-letter names save bytes of the 1,000 B gzip budget: s = the
 * script tag, q = the send queue, n = tries so far, b = send by beacon, p = the page's
 * path, d = exits sent for this page, t = when the page was last shown (0 while hidden),
 * k = path changes this minute, c = check whether the path changed.
 */
(() => {
  try {
    const s = document.currentScript,
      site = s.getAttribute("data-site");
    if (
      !site ||
      navigator.webdriver ||
      ((location.protocol === "file:" ||
        /^(localhost|127(\.\d+){3}|\[::1\])$/.test(location.hostname)) &&
        !s.hasAttribute("data-allow-localhost"))
    ) return;
    // The visitor's own switch, in this browser only. Storage may throw (blocked cookies,
    // some private modes): then there is no switch, and the visit is tracked.
    try {
      const h = location.hash;
      if (h === "#sa-ignore") localStorage.sa_ignore = 1;
      if (h === "#sa-track") delete localStorage.sa_ignore;
      if (localStorage.sa_ignore) return;
    } catch {}
    const api = (s.getAttribute("data-api") || new URL(s.src).origin) + "/api/event";
    let p, referrer, ms, t, d, k = 0,
      // Events go out one after another: the server answers after the commit, so a quick
      // PATH_CHANGE can never overtake the PAGE_VIEW that opens the session.
      q = Promise.resolve();

    const post = (body, n) => {
        q = q
          // A string body goes as text/plain: a "simple" CORS request, no preflight.
          .then(() => fetch(api, { method: "POST", body, keepalive: 1, credentials: "omit" }))
          .then((r) => {
            if (r.status > 499) throw r;
          })
          .catch(() => {
            // The same body and so the same id: a retry of an event that did arrive is dropped.
            if (n < 3) setTimeout(post, n * 2e3, body, n + 1);
          });
      },
      // A beacon outlives the page (an exit, a click that leaves) but bypasses the queue.
      send = (type, b, x) => {
        try {
          const body = JSON.stringify({
            site,
            type,
            url: location.href,
            referrer,
            screen: screen.width,
            // 96 random bits.
            id: crypto.getRandomValues(new Uint32Array(3)).join("-"),
            ...x
          });
          // Some browsers let users switch beacons off: then the request goes by fetch.
          if (!b || !navigator.sendBeacon || !navigator.sendBeacon(api, body)) post(body, 1);
        } catch {}
      },
      // A new page: its path, its visible time from zero, its view. Only the landing page
      // has the document's referrer; the server ignores internal referrers anyway.
      page = (type, f = "") => {
        p = location.pathname;
        referrer = f;
        ms = d = 0;
        t = document.hidden ? 0 : Date.now();
        send(type);
      },
      hide = () => {
        if (t) ms += Date.now() - t;
        t = 0;
        if (!d++) send("PAGE_EXIT", 1, { engaged_ms: ms });
      },
      // The same path again sends nothing, and a router stuck in a loop cannot flood.
      c = () => location.pathname !== p && ++k < 31 && page("PATH_CHANGE"),
      // The public API. The server checks the name and props (a 400 stores nothing).
      sa = (kind, name, props) => {
        if (kind === "event" && typeof name === "string") send("EVENT", 0, { name, props });
      };

    for (const m of ["pushState", "replaceState"]) {
      const f = history[m];
      history[m] = function (...a) {
        // A call that throws has not changed the path: nothing to check then. c() cannot
        // throw into the caller: send() swallows its own errors.
        const r = f.apply(this, a);
        c();
        return r;
      };
    }
    setInterval(() => (k = 0), 6e4);
    addEventListener("popstate", c);
    addEventListener("pagehide", hide);
    // Back/forward cache: a restored page is viewed again and may exit again.
    addEventListener("pageshow", (e) => e.persisted && page("PAGE_VIEW"));
    document.addEventListener("visibilitychange", () =>
      document.hidden ? hide() : t || (t = Date.now())
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
    const auto = (name, props) => name && send("EVENT", 1, { name, props });
    const click = (e) => {
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

    page("PAGE_VIEW", document.referrer);
    // The stub's queue: sent after the PAGE_VIEW, in the order of the calls.
    for (const a of (window.sa || 0).q || []) sa(...a);
    window.sa = sa;
  } catch {}
})();
