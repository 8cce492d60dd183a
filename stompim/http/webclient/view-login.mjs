// The sign-in / create-account card.

import { clear, h } from "./dom.mjs";

export function renderLogin(root, api, { message = "", onLoggedIn }) {
  let mode = "login";
  const error = h("p", { class: "form-error", role: "alert" }, message);
  const nicknameRow = h(
    "label",
    { class: "field", hidden: true },
    h("span", {}, "Nickname"),
    h("input", { name: "nickname", maxlength: 64, autocomplete: "nickname", placeholder: "How friends see you" }),
  );
  const submit = h("button", { class: "primary wide", type: "submit", dataset: { action: "submit" } }, "Sign in");
  const remember = h("input", { type: "checkbox", name: "remember" });
  const form = h(
    "form",
    { class: "auth-form", name: "auth", novalidate: true },
    h(
      "label",
      { class: "field" },
      h("span", {}, "Username"),
      h("input", {
        name: "username",
        required: true,
        autocomplete: "username",
        autocapitalize: "none",
        spellcheck: "false",
        placeholder: "alice",
      }),
    ),
    h(
      "label",
      { class: "field" },
      h("span", {}, "Password"),
      h("input", { name: "password", type: "password", required: true, autocomplete: "current-password" }),
    ),
    nicknameRow,
    h("label", { class: "check" }, remember, h("span", {}, "Keep me signed in on this browser")),
    error,
    submit,
  );
  const tabs = ["login", "register"].map((m) =>
    h(
      "button",
      {
        type: "button",
        role: "tab",
        class: m === mode ? "active" : "",
        dataset: { mode: m },
        onclick: () => setMode(m),
      },
      m === "login" ? "Sign in" : "Create account",
    ),
  );

  function setMode(next) {
    mode = next;
    for (const tab of tabs) tab.classList.toggle("active", tab.dataset.mode === mode);
    nicknameRow.hidden = mode !== "register";
    submit.textContent = mode === "login" ? "Sign in" : "Create account";
    form.password.autocomplete = mode === "login" ? "current-password" : "new-password";
    error.textContent = "";
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const username = form.username.value.trim();
    const password = form.password.value;
    if (!username || !password) {
      error.textContent = "Enter a username and a password.";
      return;
    }
    submit.disabled = true;
    error.textContent = "";
    try {
      if (mode === "register") {
        const nickname = form.nickname.value.trim();
        await api.post("/api/user/register", { username, password, ...(nickname ? { nickname } : {}) });
      }
      const login = await api.post("/api/user/login", { username, password });
      api.token = login.token;
      onLoggedIn(login, remember.checked);
    } catch (e) {
      error.textContent = e.message;
      submit.disabled = false;
    }
  });

  clear(
    root,
    h(
      "main",
      { class: "auth" },
      h(
        "section",
        { class: "auth-card" },
        h("div", { class: "brand" }, h("span", { class: "logo", "aria-hidden": "true" }), "stompim"),
        h("p", { class: "tagline" }, "Real-time messaging over STOMP — this node's own web client."),
        h("div", { class: "tabs", role: "tablist" }, tabs),
        form,
        h(
          "p",
          { class: "fine" },
          "Usernames start with a letter (3–32 letters, digits, _). Passwords need 8+ characters with a letter and a digit.",
        ),
      ),
    ),
  );
  form.username.focus();
}
