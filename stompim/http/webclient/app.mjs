// Entry point of the web client (index.html loads it): the session, then the login or the
// main view. The token is kept per tab (sessionStorage), so two tabs can be two users; with
// "keep me signed in" also in localStorage, for the next visit.

import { Api } from "./api.mjs";
import { clear, toast } from "./dom.mjs";
import { Messenger } from "./messenger.mjs";
import { renderLogin } from "./view-login.mjs";
import { MainView } from "./view-main.mjs";

const TOKEN_KEY = "stompim.token";
const root = document.getElementById("app");
const api = new Api();
let session = null; // {messenger, view}

function storedToken() {
  return sessionStorage.getItem(TOKEN_KEY) || localStorage.getItem(TOKEN_KEY);
}

function saveToken(token, remember) {
  sessionStorage.setItem(TOKEN_KEY, token);
  if (remember) localStorage.setItem(TOKEN_KEY, token);
}

function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(TOKEN_KEY);
}

async function clientConfig() {
  try {
    return await api.get("/api/client-config");
  } catch {
    return { wsUrl: "", wsPort: 8081, wsPath: "/ws", stompPath: "/ws", maxMessageLength: 5000, recallWindowSeconds: 120 };
  }
}

async function endSession(message) {
  const current = session;
  session = null;
  api.token = null;
  forgetToken();
  if (current) {
    current.view.destroy();
    await current.messenger.stop();
  }
  showLogin(message);
}

function showLogin(message = "") {
  document.title = "stompim";
  renderLogin(root, api, {
    message,
    onLoggedIn: (login, remember) => {
      saveToken(login.token, remember);
      startSession(login.user);
    },
  });
}

async function startSession(me) {
  api.token = storedToken();
  const config = await clientConfig();
  const messenger = new Messenger(api, me, config);
  const view = new MainView(root, messenger, {
    onLogout: async () => {
      try {
        await api.post("/api/user/logout");
      } catch {
        // the token is dropped here either way
      }
      endSession("You are signed out.");
    },
  });
  session = { messenger, view };
  messenger.addEventListener("toast", (e) => toast(e.detail.text, e.detail.kind));
  try {
    await messenger.start();
  } catch (error) {
    if (session?.messenger === messenger && !error.unauthorized) {
      toast(`Loading failed: ${error.message}`, "error");
    }
  }
}

api.onUnauthorized = () => {
  if (session) endSession("Your session ended; please sign in again.");
};

async function boot() {
  const token = storedToken();
  if (!token) {
    showLogin();
    return;
  }
  api.token = token;
  clear(root);
  try {
    const me = await api.get("/api/user/info");
    startSession(me);
  } catch (error) {
    if (error.unauthorized) {
      forgetToken();
      showLogin("Your session ended; please sign in again.");
    } else {
      showLogin(`The server cannot be reached (${error.message}).`);
    }
  }
}

boot();
