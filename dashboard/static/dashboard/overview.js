// The website dashboard page: chart read-outs, tabs, period menu, popovers, live count and
// live update (live.js), the empty state's wait for data and its copy button. No framework; tracked
// values are only ever set with textContent.

import { initChart } from "./chart.js";
import { startLive, waitForFirstEvent } from "./live.js";

const TAB_KEY = "sa.dashboard.tab.";

function store(key, value) {
  try {
    if (value === undefined) return window.localStorage.getItem(key);
    window.localStorage.setItem(key, value);
  } catch {
    // Storage can be disabled (private mode); tabs then simply start on the first one.
  }
  return null;
}

function initTabs(root) {
  for (const panel of root.querySelectorAll("[data-tabs]")) {
    const tabs = Array.from(panel.querySelectorAll('[role="tab"]'));
    const select = (tab, { focus = false, remember = true } = {}) => {
      for (const t of tabs) {
        const on = t === tab;
        t.setAttribute("aria-selected", String(on));
        t.tabIndex = on ? 0 : -1;
        const target = panel.querySelector(`#${t.getAttribute("aria-controls")}`);
        if (target) target.hidden = !on;
      }
      if (focus) tab.focus();
      if (remember) store(TAB_KEY + panel.dataset.tabs, tab.dataset.tab);
    };
    tabs.forEach((tab, i) => {
      tab.addEventListener("click", () => select(tab));
      tab.addEventListener("keydown", (e) => {
        const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
        if (next === undefined) return;
        e.preventDefault();
        select(tabs[(next + tabs.length) % tabs.length], { focus: true });
      });
    });
    // The server opens the tab of an active filter; otherwise the last tab the user chose.
    if (!panel.hasAttribute("data-filter-tab")) {
      const saved = store(TAB_KEY + panel.dataset.tabs);
      const tab = tabs.find((t) => t.dataset.tab === saved);
      if (tab) select(tab, { remember: false });
    }
  }
}

function initPeriodMenu(dash) {
  const menu = dash.querySelector("[data-period-menu]");
  if (!menu) return;
  document.addEventListener("pointerdown", (e) => {
    if (menu.open && !menu.contains(e.target)) menu.open = false;
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && menu.open) {
      menu.open = false;
      menu.querySelector("summary").focus();
    }
  });
  const form = menu.querySelector("form");
  const from = form?.elements.namedItem("from");
  const to = form?.elements.namedItem("to");
  if (from && to) {
    const check = () => to.setCustomValidity(from.value && to.value && from.value > to.value
      ? "The end date must not be before the start date." : "");
    from.addEventListener("input", check);
    to.addEventListener("input", check);
  }
}

// Full page loads (a filter, a period) show a progress bar instead of a frozen page.
function initLoading(dash) {
  dash.addEventListener("click", (e) => {
    const link = e.target.closest("a[href]");
    if (!link || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    // A link to another query string loads a page, with or without a #panel to scroll to.
    // Parsed from the attribute: an SVG link (the world map) has no pathname or search.
    const here = window.location;
    const url = new URL(link.getAttribute("href"), here.href);
    const loads = url.pathname !== here.pathname || url.search !== here.search || !url.hash;
    if (url.origin === here.origin && loads && !link.hasAttribute("download")) dash.classList.add("loading");
  });
  dash.addEventListener("submit", () => dash.classList.add("loading"));
  window.addEventListener("pageshow", () => dash.classList.remove("loading"));
}

function initCopy(dash) {
  const button = dash.querySelector("[data-copy]");
  const code = dash.querySelector("[data-snippet]");
  if (!button || !code) return;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(code.textContent);
      button.textContent = "Copied ✓";
    } catch {
      const range = document.createRange();
      range.selectNodeContents(code);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      button.textContent = "Selected: press Ctrl+C (⌘C) to copy";
    }
    setTimeout(() => { button.textContent = "Copy snippet"; }, 2500);
  });
}

function initMain(root) {
  initTabs(root);
  return initChart(root);
}

// Help popovers (<details data-popover>): one open at a time, closed by a click outside or
// Escape. Delegated from the document, so content swapped in by live.js needs no wiring.
function initPopovers() {
  const opened = () => Array.from(document.querySelectorAll("details[data-popover][open]"));
  // On click, not pointerdown: closing one moves what is below it, and the click must still
  // land on what was pressed.
  document.addEventListener("click", (e) => {
    for (const d of opened()) if (!d.contains(e.target)) d.open = false;
  });
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape") return;
    for (const d of opened()) {
      const had = d.contains(document.activeElement);
      d.open = false;
      if (had) d.querySelector("summary").focus();
    }
  });
  // toggle does not bubble; a capturing listener still sees it.
  document.addEventListener("toggle", (e) => {
    if (!e.target.matches?.("details[data-popover]") || !e.target.open) return;
    for (const d of opened()) if (d !== e.target) d.open = false;
  }, true);
}

const dash = document.getElementById("dash");
if (dash) {
  initLoading(dash);
  initPeriodMenu(dash);
  initPopovers();
  if (dash.hasAttribute("data-wait")) {
    initCopy(dash);
    waitForFirstEvent(dash);
  } else {
    const main = document.getElementById("dash-main");
    const stopChart = main ? initMain(main) : () => {};
    startLive(dash, initMain, stopChart);
  }
}
