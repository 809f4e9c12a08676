// The colour theme: the system setting (app.css, prefers-color-scheme) unless the person
// picked light or dark with the toggle, kept in localStorage. Loaded in <head> with
// blocking="render", so a stored choice is applied before the first paint (no flash).
const KEY = "sa.theme";
const ORDER = ["system", "light", "dark"];
const NAME = { system: "System", light: "Light", dark: "Dark" };
const ICON = { system: "◐", light: "☀", dark: "☾" };
const root = document.documentElement;

function read() {
  try {
    const value = window.localStorage.getItem(KEY);
    return ORDER.includes(value) ? value : "system";
  } catch {
    return "system";
  }
}

function write(choice) {
  try {
    if (choice === "system") window.localStorage.removeItem(KEY);
    else window.localStorage.setItem(KEY, choice);
  } catch {
    // Storage can be disabled (private mode): the choice then lasts for this page only.
  }
}

function apply(choice) {
  if (choice === "system") delete root.dataset.theme;
  else root.dataset.theme = choice;
}

let current = read();
apply(current);

function wire() {
  const button = document.querySelector("[data-theme-toggle]");
  if (!button) return;
  const icon = button.querySelector("[data-theme-icon]");
  const label = button.querySelector("[data-theme-label]");
  const show = () => {
    const next = ORDER[(ORDER.indexOf(current) + 1) % ORDER.length];
    icon.textContent = ICON[current];
    label.textContent = NAME[current];
    button.setAttribute("aria-label", `Theme: ${NAME[current]} (switch to ${NAME[next]})`);
    const say = (choice) => (choice === "system" ? "your system setting" : NAME[choice].toLowerCase());
    button.title = `Colours: ${say(current)}. Click for ${say(next)}.`;
  };
  button.addEventListener("click", () => {
    current = ORDER[(ORDER.indexOf(current) + 1) % ORDER.length];
    write(current);
    apply(current);
    show();
  });
  // Another tab changed it.
  window.addEventListener("storage", (e) => {
    if (e.key !== KEY && e.key !== null) return;
    current = read();
    apply(current);
    show();
  });
  show();
  button.hidden = false;
}

wire();
