// Snippet page: copy the tag, and show whether events arrive (polls status.json).
const WAITING_MS = 3000;
const RECEIVING_MS = 15000;

function selectText(element) {
  const range = document.createRange();
  range.selectNodeContents(element);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}

async function copyText(text, element) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // Permission denied or not focused: fall back to a selection.
    }
  }
  selectText(element);
  try {
    return document.execCommand("copy");
  } catch {
    return false;
  }
}

for (const button of document.querySelectorAll("[data-copy]")) {
  const source = document.getElementById(button.dataset.copy);
  const feedback = document.getElementById("copy-feedback");
  const label = button.textContent;
  let timer = 0;
  button.addEventListener("click", async () => {
    const copied = await copyText(source.textContent, source);
    clearTimeout(timer);
    if (copied) {
      button.textContent = "Copied";
      feedback.textContent = "Copied to the clipboard.";
      timer = setTimeout(() => {
        button.textContent = label;
        feedback.textContent = "";
      }, 2500);
    } else {
      selectText(source);
      feedback.textContent = "Press Ctrl+C (⌘C on a Mac) to copy the selected text.";
    }
  });
}

function formatTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function plural(n, word) {
  return `${n.toLocaleString()} ${word}${n === 1 ? "" : "s"}`;
}

const box = document.getElementById("status");
if (box) {
  const title = box.querySelector("[data-status-title]");
  const detail = box.querySelector("[data-status-detail]");
  const cta = box.querySelector("[data-status-cta]");
  let receiving = box.classList.contains("is-receiving");

  for (const time of box.querySelectorAll("time[datetime]")) {
    time.textContent = formatTime(time.getAttribute("datetime"));
  }

  const render = (data) => {
    receiving = Boolean(data.receiving);
    box.classList.toggle("is-receiving", receiving);
    box.classList.remove("is-error");
    if (!receiving) {
      title.textContent = "Waiting for the first event…";
      detail.textContent =
        "Open a page of your site with the snippet installed; this updates by itself.";
      return;
    }
    title.textContent = "Receiving data";
    const first = data.first_event_at
      ? `First event ${formatTime(data.first_event_at)}. `
      : "The first event just arrived. ";
    detail.textContent = `${first}${plural(data.events_today || 0, "page view")} today.`;
    if (cta) cta.hidden = false;
  };

  const poll = async () => {
    if (!document.hidden) {
      try {
        const response = await fetch(box.dataset.statusUrl, {
          headers: { Accept: "application/json" },
          cache: "no-store",
          redirect: "manual",
        });
        if (response.type === "opaqueredirect") {
          // The login expired: the status URL now redirects to the login page.
          box.classList.add("is-error");
          detail.textContent = "You are logged out. Reload the page to log in again.";
          return;
        }
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        render(await response.json());
      } catch {
        box.classList.add("is-error");
        detail.textContent = "Cannot reach the server to check for events. Retrying…";
      }
    }
    setTimeout(poll, receiving ? RECEIVING_MS : WAITING_MS);
  };
  setTimeout(poll, receiving ? RECEIVING_MS : WAITING_MS);
}
