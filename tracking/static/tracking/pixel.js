/*
 * Simple Analytics tracker. Readable source; served minified (rjsmin) at /pixel.js.
 *
 *   <script defer src="https://HOST/pixel.js" data-site="TRACKING_ID"></script>
 *
 * Sends PAGE_VIEW on load, PATH_CHANGE when an SPA changes the path (pushState,
 * replaceState, popstate) and one PAGE_EXIT per page with its visible (engaged) time.
 * No cookies, no storage. Never throws into the host page.
 */
(function (win, doc) {
  try {
    var script = doc.currentScript;
    var site = script && script.getAttribute("data-site");
    var loc = win.location;
    var nav = win.navigator;
    var history = win.history;
    if (!site || nav.webdriver) return;
    if (
      (loc.protocol == "file:" || /^(localhost|127(\.\d+){3}|\[::1\])$/.test(loc.hostname)) &&
      !script.hasAttribute("data-allow-localhost")
    ) return;
    var endpoint = (script.getAttribute("data-api") || new URL(script.src).origin) + "/api/event";
    var path, referrer = doc.referrer, engaged, visibleSince, exited;
    // Events go out one after another: the server answers after the commit, so a quick
    // PATH_CHANGE can never overtake the PAGE_VIEW that opens the session.
    var queue = Promise.resolve();

    var now = function () {
      return Date.now();
    };

    var send = function (type, exit) {
      var body = JSON.stringify({
        site: site,
        type: type,
        url: loc.href,
        referrer: referrer,
        screen: win.screen.width,
        engaged_ms: exit ? engaged : undefined
      });
      try {
        if (exit && nav.sendBeacon && nav.sendBeacon(endpoint, body)) return;
        queue = queue.then(function () {
          // text/plain keeps it a "simple" CORS request: no preflight.
          return fetch(endpoint, {
            method: "POST",
            body: body,
            keepalive: true,
            credentials: "omit",
            headers: { "Content-Type": "text/plain" }
          });
        })["catch"](function () {});
      } catch (e) {}
    };

    var visible = function () {
      return doc.visibilityState != "hidden";
    };

    // Start counting a new page: its path, and its visible time from zero.
    var page = function () {
      path = loc.pathname;
      engaged = 0;
      exited = 0;
      visibleSince = visible() ? now() : 0;
    };

    var exit = function () {
      if (visibleSince) engaged += now() - visibleSince;
      visibleSince = 0;
      if (!exited) {
        exited = 1;
        send("PAGE_EXIT", 1);
      }
    };

    var changed = function () {
      if (loc.pathname == path) return;
      // The previous page refers the next one; the server ignores internal referrers.
      referrer = "";
      page();
      send("PATH_CHANGE");
    };

    var wrap = function (name) {
      var original = history[name];
      history[name] = function () {
        var result = original.apply(this, arguments);
        try {
          changed();
        } catch (e) {}
        return result;
      };
    };

    wrap("pushState");
    wrap("replaceState");
    win.addEventListener("popstate", changed);
    win.addEventListener("pagehide", exit);
    // Back/forward cache: a restored page is viewed again and may exit again.
    win.addEventListener("pageshow", function (e) {
      if (e.persisted) {
        referrer = "";
        page();
        send("PAGE_VIEW");
      }
    });
    doc.addEventListener("visibilitychange", function () {
      if (!visible()) exit();
      else if (!visibleSince) visibleSince = now();
    });

    page();
    send("PAGE_VIEW");
  } catch (e) {}
})(window, document);
