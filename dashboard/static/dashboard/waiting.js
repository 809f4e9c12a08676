// The waiting panel (_waiting.html): until a website's first event is stored, shows what
// arrived and why it was dropped, from the snippet page's status.json. Pauses while the tab
// is hidden; stops once events are stored (the page around it then takes over).

function dropItem(row) {
  const li = document.createElement("li");
  li.dataset.reason = row.reason;
  const what = document.createElement("strong");
  what.textContent = `${row.label}: ${new Intl.NumberFormat().format(row.count)}.`;
  li.append(what, ` ${row.fix}`);
  return li;
}

function start(panel) {
  const summary = panel.querySelector("[data-waiting-summary]");
  const drops = panel.querySelector("[data-waiting-drops]");
  const checked = panel.querySelector("[data-waiting-checked]");
  const every = Number(panel.dataset.waitingPoll || 5) * 1000;
  let timer = null;
  let done = false;

  const render = (data) => {
    if (data.receiving) {
      done = true;
      panel.hidden = true;
      return;
    }
    const rows = Array.isArray(data.dropped) ? data.dropped : [];
    summary.textContent = rows.length
      ? "Events arrived but were not stored:"
      : "No event has arrived yet, not even one that was dropped.";
    drops.replaceChildren(...rows.map(dropItem));
    checked.classList.remove("error");
    checked.textContent = `Last checked ${new Date().toLocaleTimeString()}; checking every ${every / 1000} seconds.`;
  };

  async function tick() {
    timer = null;
    try {
      const res = await fetch(panel.dataset.waitingUrl, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
        cache: "no-store",
      });
      // login_required answers a signed-out request with a redirect to the login page.
      if (res.redirected) throw new Error("you are signed out; reload the page");
      if (!res.ok) throw new Error(`the server answered ${res.status}`);
      render(await res.json());
    } catch (err) {
      checked.classList.add("error");
      const reason = err instanceof TypeError ? "network error" : err.message;
      checked.textContent = `Could not check what arrived (${reason}). Retrying in ${every / 1000} seconds.`;
    }
    schedule();
  }

  function schedule() {
    if (!done && !document.hidden && timer === null) timer = setTimeout(tick, every);
  }

  document.addEventListener("visibilitychange", () => {
    if (document.hidden) {
      clearTimeout(timer);
      timer = null;
    } else if (!done && timer === null) {
      tick();
    }
  });
  schedule();
}

const panel = document.querySelector("[data-waiting]");
if (panel && panel.dataset.waitingUrl) start(panel);
