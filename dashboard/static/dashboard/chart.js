// Hover, touch and keyboard read-outs for the server-rendered chart.
// Each bucket is a <rect> in `.hits` carrying data-label/-visitors/-pageviews/-sessions
// and its position (data-x: percent of the width, data-y: px of the metric's point, empty
// when it has none). With another metric or a comparison, data-value holds the metric as
// written by the server, and data-then/-then-label/-ty the compared bucket's.
// Text goes in with textContent only; positions with CSSOM and SVG attributes (CSP).

// The digits grouped as the server groups them (dashboard.formatting), whatever the browser.
const numberFormat = new Intl.NumberFormat("en-US");

export function initChart(root) {
  const chart = root.querySelector("[data-chart]");
  if (!chart) return () => {};
  const svg = chart.querySelector("svg.chart-svg");
  const hits = Array.from(chart.querySelectorAll(".hits rect"));
  const tip = chart.querySelector("[data-chart-tip]");
  const cursor = chart.querySelector("[data-cursor]");
  const dot = chart.querySelector("[data-dot]");
  const dotThen = chart.querySelector("[data-dot-then]");
  if (!svg || !hits.length || !tip) return () => {};
  const field = (name) => tip.querySelector(`[data-tip-${name}]`);
  const out = { title: field("title"), visitors: field("visitors"), pageviews: field("pageviews"),
    sessions: field("sessions"), value: field("value"), then: field("then"), thenLabel: field("then-label") };
  const abort = new AbortController();
  const on = { signal: abort.signal };
  let current = -1;

  function show(i) {
    if (i < 0 || i >= hits.length) return hide();
    if (current >= 0) hits[current].classList.remove("on");
    current = i;
    const rect = hits[i];
    const d = rect.dataset;
    const future = "future" in d;
    rect.classList.add("on");
    out.title.textContent = d.label + (future ? " (not yet)" : "");
    out.visitors.textContent = future ? "—" : numberFormat.format(Number(d.visitors));
    out.pageviews.textContent = future ? "—" : numberFormat.format(Number(d.pageviews));
    out.sessions.textContent = future ? "—" : numberFormat.format(Number(d.sessions));
    if (out.value) out.value.textContent = future ? "—" : d.value ?? "";
    if (out.then) out.then.textContent = d.then ?? "—";
    if (out.thenLabel) out.thenLabel.textContent = d.thenLabel ?? "";
    cursor.setAttribute("x1", `${d.x}%`);
    cursor.setAttribute("x2", `${d.x}%`);
    dot.setAttribute("cx", `${d.x}%`);
    if (d.y) dot.setAttribute("cy", d.y);
    dot.classList.toggle("hidden", future || !d.y);
    if (dotThen) {
      dotThen.setAttribute("cx", `${d.x}%`);
      if (d.ty) dotThen.setAttribute("cy", d.ty);
      dotThen.classList.toggle("hidden", !d.ty);
    }
    chart.classList.add("hovering");
    tip.hidden = false;
    // Beside the cursor, flipping to the other side near the right edge.
    const width = chart.clientWidth;
    const x = (Number(d.x) / 100) * width;
    const tipWidth = tip.offsetWidth;
    let left = x + 14;
    if (left + tipWidth > width) left = x - tipWidth - 14;
    if (left < 0) left = Math.max(0, Math.min(width - tipWidth, x - tipWidth / 2));
    tip.style.left = `${Math.round(left)}px`;
    tip.style.top = "4px";
  }

  function hide() {
    if (current >= 0) hits[current].classList.remove("on");
    current = -1;
    chart.classList.remove("hovering");
    tip.hidden = true;
  }

  function indexAt(clientX) {
    const box = svg.getBoundingClientRect();
    if (!box.width) return -1;
    const i = Math.floor(((clientX - box.left) / box.width) * hits.length);
    return Math.min(hits.length - 1, Math.max(0, i));
  }

  svg.addEventListener("pointermove", (e) => show(indexAt(e.clientX)), on);
  svg.addEventListener("pointerdown", (e) => show(indexAt(e.clientX)), on);
  svg.addEventListener("pointerleave", (e) => { if (e.pointerType === "mouse") hide(); }, on);
  // A tap outside the chart closes a read-out opened by touch.
  document.addEventListener("pointerdown", (e) => { if (!chart.contains(e.target)) hide(); }, on);
  chart.addEventListener("keydown", (e) => {
    const last = hits.length - 1;
    const moves = { ArrowLeft: current <= 0 ? 0 : current - 1, ArrowRight: current < 0 ? 0 : Math.min(last, current + 1),
      Home: 0, End: last };
    if (e.key in moves) {
      e.preventDefault();
      show(moves[e.key]);
    } else if (e.key === "Escape") {
      hide();
    }
  }, on);
  chart.addEventListener("blur", hide, on);
  return () => abort.abort();
}
