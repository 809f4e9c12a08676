// Polling of live.json: the current-visitors count, and the wait for a site's first event.
// Pauses while the tab is hidden; every failure says what happened instead of going blank.

export function poll(url, everyMs, onData, onError) {
  let timer = null;
  let stopped = false;

  async function tick() {
    timer = null;
    try {
      const res = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin",
        cache: "no-store" });
      // login_required answers a signed-out request with a redirect to the login page.
      if (res.redirected || res.status === 401 || res.status === 403) throw new Error("you are signed out; reload the page");
      if (!res.ok) throw new Error(`the server answered ${res.status}`);
      const data = await res.json();
      if (typeof data.current_visitors !== "number") throw new Error("unexpected answer");
      onData(data);
    } catch (err) {
      onError(err instanceof TypeError ? "network error" : err.message || String(err));
    }
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

export function startLiveCount(dash) {
  const box = dash.querySelector("[data-live]");
  const text = dash.querySelector("[data-live-text]");
  if (!box || !text) return;
  const every = Number(dash.dataset.livePoll || 10) * 1000;
  poll(dash.dataset.liveUrl, every, (data) => {
    const n = data.current_visitors;
    const strong = document.createElement("strong");
    strong.textContent = new Intl.NumberFormat().format(n);
    text.replaceChildren(strong, ` current visitor${n === 1 ? "" : "s"}`);
    box.classList.remove("unavailable");
    box.title = `Distinct visitors with an event in the last 5 minutes; updated ${new Date().toLocaleTimeString()}`;
  }, (reason) => {
    text.textContent = "live count unavailable";
    box.classList.add("unavailable");
    box.title = `Live count unavailable: ${reason}. Retrying every ${every / 1000} seconds.`;
  });
}

export function waitForFirstEvent(dash) {
  const status = dash.querySelector("[data-wait-status]");
  const every = Number(dash.dataset.wait || 5) * 1000;
  let failures = 0;
  const poller = poll(dash.dataset.liveUrl, every, (data) => {
    failures = 0;
    status.classList.remove("error");
    if (data.has_data) {
      poller.stop();
      status.textContent = "First event received. Loading your dashboard…";
      window.location.reload();
    } else {
      status.textContent = `No events yet (last checked ${new Date().toLocaleTimeString()}). Checking every ${every / 1000} seconds.`;
    }
  }, (reason) => {
    failures += 1;
    status.classList.add("error");
    status.textContent = `Could not check for events (${reason}). Retrying in ${every / 1000} seconds${failures > 1 ? ` (${failures} failures in a row)` : ""}.`;
  });
}
