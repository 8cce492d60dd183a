// DOM helpers of the web client. Text from the server (names, messages, notifications) only
// ever reaches the page as text nodes or attribute values set through the DOM API, never as
// HTML: `h` has no innerHTML path, so a nickname like <img onerror=...> shows as written.

/**
 * h("button", { class: "primary", onclick: fn, dataset: { action: "send" } }, "Send", child)
 * Props starting with "on" are listeners; `dataset` fills data-*; `style` is an object of
 * CSS properties; `null`/`false` props are
 * skipped; children may be strings, numbers, nodes, arrays, or null/false (ignored).
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "style") {
      // CSSOM, not the style attribute: the page's CSP allows no inline styles.
      for (const [name, v] of Object.entries(value)) el.style.setProperty(name, String(v));
    } else if (key === "class") {
      el.className = value;
    } else if (key in el && typeof value !== "string") {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function initials(name) {
  const words = String(name || "").match(/[\p{L}\p{N}]+/gu) ?? ["?"];
  const first = [...words[0]];
  const letters = words.length > 1 ? first[0] + [...words[1]][0] : first.slice(0, 2).join("");
  return letters.toUpperCase();
}

const HUES = [210, 160, 280, 20, 330, 190, 45, 250, 120, 0];

/** A round avatar with initials, its colour stable for an id. */
export function avatar(name, id, size = "") {
  const hue = HUES[Math.abs(Number(id) || 0) % HUES.length];
  return h("span", { class: `avatar ${size}`, style: { "--hue": hue }, "aria-hidden": "true" }, initials(name));
}

export function badge(count) {
  return count > 0 ? h("span", { class: "badge" }, count > 99 ? "99+" : String(count)) : null;
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayFmt = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
const fullDayFmt = new Intl.DateTimeFormat(undefined, {
  weekday: "long",
  month: "long",
  day: "numeric",
  year: "numeric",
});

export function sameDay(a, b) {
  const x = new Date(a);
  const y = new Date(b);
  return x.getFullYear() === y.getFullYear() && x.getMonth() === y.getMonth() && x.getDate() === y.getDate();
}

/** "14:05" today, "Mar 3" before. */
export function shortTime(ms) {
  if (!ms) return "";
  return sameDay(ms, Date.now()) ? timeFmt.format(ms) : dayFmt.format(ms);
}

export function clockTime(ms) {
  return ms ? timeFmt.format(ms) : "";
}

export function dayLabel(ms) {
  if (sameDay(ms, Date.now())) return "Today";
  if (sameDay(ms, Date.now() - 86400000)) return "Yesterday";
  return fullDayFmt.format(ms);
}

/** A short message in the corner; errors stay a little longer. */
export function toast(text, kind = "info") {
  const box = document.getElementById("toasts");
  if (!box) return;
  const item = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
  box.append(item);
  setTimeout(() => item.classList.add("leaving"), kind === "error" ? 6000 : 4000);
  setTimeout(() => item.remove(), kind === "error" ? 6400 : 4400);
}

/**
 * A modal dialog (native <dialog>): `build(close)` returns its content. Resolves when closed.
 */
export function modal(title, build) {
  return new Promise((resolveClosed) => {
    const dialog = h("dialog", { class: "modal" });
    const close = () => dialog.close();
    dialog.append(
      h(
        "header",
        {},
        h("h2", {}, title),
        h("button", { class: "icon", type: "button", "aria-label": "Close", onclick: close }, "✕"),
      ),
      h("div", { class: "modal-body" }, build(close)),
    );
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolveClosed();
    });
    dialog.addEventListener("click", (event) => {
      if (event.target === dialog) close(); // the backdrop
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}
