/*
 * Simple Analytics tracker. Readable source; served minified (rjsmin) at /pixel.js.
 *
 *   <script defer src="https://HOST/pixel.js" data-site="TRACKING_ID"></script>
 *
 * Sends PAGE_VIEW on load, PATH_CHANGE when an SPA changes the path (pushState,
 * replaceState, popstate; at most 30 a minute) and one PAGE_EXIT per page with its
 * visible (engaged) time. Every event carries a random id; a send that fails (network
 * error or 5xx) is retried twice with the same id, so the server stores it once.
 * No cookies, no storage. Never throws into the host page.
 */
(function (win, doc) {
  try {
    const script = doc.currentScript;
    const site = script && script.getAttribute("data-site");
    const loc = win.location;
    const nav = win.navigator;
    if (!site || nav.webdriver) return;
    if (
      (loc.protocol === "file:" || /^(localhost|127(\.\d+){3}|\[::1\])$/.test(loc.hostname)) &&
      !script.hasAttribute("data-allow-localhost")
    ) return;
    const api = (script.getAttribute("data-api") || new URL(script.src).origin) + "/api/event";
    let path, engaged, shownAt, exited, count = 0;
    let referrer = doc.referrer;
    // Events go out one after another: the server answers after the commit, so a quick
    // PATH_CHANGE can never overtake the PAGE_VIEW that opens the session.
    let queue = Promise.resolve();

    function post(body, tries) {
      queue = queue
        // A string body goes as text/plain: a "simple" CORS request, no preflight.
        .then(() => fetch(api, { method: "POST", body, keepalive: true, credentials: "omit" }))
        .then((r) => {
          if (r.status > 499) throw r;
        })
        .catch(() => {
          // The same body and so the same id: a retry of an event that did arrive is dropped.
          if (tries < 3) setTimeout(post, tries * 2e3, body, tries + 1);
        });
    }

    function send(type, isExit) {
      const body = JSON.stringify({
        site,
        type,
        url: loc.href,
        referrer,
        screen: screen.width,
        engaged_ms: isExit && engaged,
        // 96 random bits (without Web Crypto: Math.random and the clock).
        id: (win.crypto
          ? crypto.getRandomValues(new Uint32Array(3))
          : [Math.random(), Date.now()]
        ).join("-")
      });
      try {
        if (!isExit || !nav.sendBeacon || !nav.sendBeacon(api, body)) post(body, 1);
      } catch {}
    }

    // Start counting a new page: its path, and its visible time from zero.
    function page() {
      path = loc.pathname;
      engaged = exited = 0;
      shownAt = doc.visibilityState !== "hidden" ? Date.now() : 0;
    }

    function exit() {
      if (shownAt) engaged += Date.now() - shownAt;
      shownAt = 0;
      if (!exited) {
        exited = 1;
        send("PAGE_EXIT", 1);
      }
    }

    function changed() {
      // The same path again sends nothing, and a router stuck in a loop cannot flood.
      if (loc.pathname === path || ++count > 30) return;
      // The previous page refers the next one; the server ignores internal referrers.
      referrer = "";
      page();
      send("PATH_CHANGE");
    }

    function wrap(name) {
      const orig = history[name];
      history[name] = function (...args) {
        const res = orig.apply(this, args);
        try {
          changed();
        } catch {}
        return res;
      };
    }

    setInterval(() => {
      count = 0;
    }, 6e4);
    wrap("pushState");
    wrap("replaceState");
    win.addEventListener("popstate", changed);
    win.addEventListener("pagehide", exit);
    // Back/forward cache: a restored page is viewed again and may exit again.
    win.addEventListener("pageshow", (e) => {
      if (e.persisted) {
        referrer = "";
        page();
        send("PAGE_VIEW");
      }
    });
    doc.addEventListener("visibilitychange", () => {
      if (doc.visibilityState === "hidden") exit();
      else if (!shownAt) shownAt = Date.now();
    });

    page();
    send("PAGE_VIEW");
  } catch {}
})(window, document);
