// The signed-in screen: the sidebar (me, connection state, tabs) and the chat pane. On a
// narrow window one pane shows at a time (`data-pane` on the shell).

import { avatar, badge, clear, h, shortTime } from "./dom.mjs";
import { ChatView } from "./view-chat.mjs";
import { renderAlerts, renderContacts, renderGroups } from "./view-social.mjs";

const TABS = [
  ["chats", "Chats"],
  ["contacts", "Contacts"],
  ["groups", "Groups"],
  ["alerts", "Alerts"],
];

const CONNECTION_TEXT = {
  open: "Connected",
  connecting: "Connecting…",
  waiting: "Offline — reconnecting…",
  inactive: "Disconnected",
};

export class MainView {
  constructor(root, messenger, { onLogout }) {
    this.m = messenger;
    this.tab = "chats";
    this.connection = "connecting";
    this.status = h("span", { class: "conn-dot connecting", title: CONNECTION_TEXT.connecting });
    this.banner = h("div", { class: "conn-banner", role: "status", hidden: true });
    this.tabBar = h("nav", { class: "side-tabs", role: "tablist" });
    this.panel = h("div", { class: "side-panel" });
    const me = messenger.me;
    const sidebar = h(
      "aside",
      { class: "sidebar" },
      h(
        "header",
        { class: "me" },
        avatar(me.nickname || me.username, me.id),
        h(
          "div",
          { class: "me-text" },
          h("strong", { class: "me-name" }, me.nickname || me.username),
          h("span", { class: "muted" }, `@${me.username}`),
        ),
        this.status,
        h("button", { class: "ghost small", type: "button", dataset: { action: "logout" }, onclick: onLogout }, "Sign out"),
      ),
      this.banner,
      this.tabBar,
      this.panel,
    );
    this.chatPane = h("main", { class: "chat-pane" });
    this.shell = h("div", { class: "shell", dataset: { pane: "list" } }, sidebar, this.chatPane);
    clear(root, this.shell);
    this.chat = new ChatView(this.chatPane, messenger, { onBack: () => this.openChat(null) });

    this.listeners = [
      ["chats", () => this.refresh(["chats"])],
      ["social", () => this.refresh(["contacts", "groups"])],
      ["notifications", () => this.refresh(["alerts"])],
      ["people", () => {
        this.refresh(["chats", "contacts", "groups"]);
        this.chat.update({ key: this.m.openKey });
      }],
      ["connection", (e) => this.setConnection(e.detail.state)],
      ["chat", (e) => this.chat.update(e.detail)],
    ];
    for (const [type, fn] of this.listeners) messenger.addEventListener(type, fn);
    this.onFocus = () => {
      if (document.hidden) return;
      const key = this.m.openKey;
      if (key) this.m.markReadIfSeen(this.m.store.chat(key));
      this.m.watchGroups();
    };
    this.onOnline = () => this.m.stomp?.reconnectNow();
    window.addEventListener("focus", this.onFocus);
    document.addEventListener("visibilitychange", this.onFocus);
    window.addEventListener("online", this.onOnline);
    this.renderTabs();
    this.renderPanel();
    this.chat.update({ key: null });
  }

  destroy() {
    for (const [type, fn] of this.listeners) this.m.removeEventListener(type, fn);
    window.removeEventListener("focus", this.onFocus);
    document.removeEventListener("visibilitychange", this.onFocus);
    window.removeEventListener("online", this.onOnline);
  }

  setConnection(state) {
    this.connection = state;
    this.status.className = `conn-dot ${state}`;
    this.status.title = CONNECTION_TEXT[state] ?? state;
    this.status.setAttribute("aria-label", this.status.title);
    const down = state === "waiting" || (state === "connecting" && this.m.wasConnected);
    this.banner.hidden = !down;
    this.banner.textContent = down ? "Connection lost — reconnecting. Messages you write are sent once it is back." : "";
    this.shell.dataset.connection = state;
  }

  counts() {
    const m = this.m;
    let unread = 0;
    for (const chat of m.store.sortedChats()) if (!chat.muted) unread += m.store.unread(chat);
    return {
      chats: unread,
      contacts: m.directory.requestsIn.filter((r) => r.status === 0).length,
      groups: m.directory.invitations.length,
      alerts: m.directory.notifications.unread,
    };
  }

  renderTabs() {
    const counts = this.counts();
    clear(
      this.tabBar,
      TABS.map(([id, label]) =>
        h(
          "button",
          {
            type: "button",
            role: "tab",
            class: id === this.tab ? "active" : "",
            "aria-selected": id === this.tab ? "true" : "false",
            dataset: { tab: id },
            onclick: () => this.selectTab(id),
          },
          label,
          badge(counts[id]),
        ),
      ),
    );
    document.title = counts.chats ? `(${counts.chats}) stompim` : "stompim";
  }

  selectTab(id) {
    this.tab = id;
    if (id === "alerts" && !this.m.directory.notifications.page) this.m.directory.loadNotifications().catch(() => {});
    this.renderTabs();
    this.renderPanel();
  }

  refresh(tabs) {
    this.renderTabs();
    if (tabs.includes(this.tab)) this.renderPanel();
  }

  renderPanel() {
    const ctx = {
      m: this.m,
      openChat: (key) => this.openChat(key),
      selectTab: (id) => this.selectTab(id),
    };
    if (this.tab === "chats") clear(this.panel, this.renderChats());
    else if (this.tab === "contacts") renderContacts(this.panel, ctx);
    else if (this.tab === "groups") renderGroups(this.panel, ctx);
    else renderAlerts(this.panel, ctx);
  }

  openChat(key) {
    this.shell.dataset.pane = key ? "chat" : "list";
    this.m.open(key);
    if (this.tab === "chats") this.renderPanel();
  }

  renderChats() {
    const m = this.m;
    const chats = m.store.sortedChats();
    if (!chats.length) {
      return h(
        "div",
        { class: "empty" },
        h("p", {}, "No chats yet."),
        h("button", { class: "primary", type: "button", onclick: () => this.selectTab("contacts") }, "Find friends"),
      );
    }
    const older = m.listCursor
      ? h(
          "button",
          {
            class: "ghost small more",
            type: "button",
            onclick: () => m.loadConversations(m.listCursor).catch((e) => m.toast(e.message, "error")),
          },
          "Show older chats",
        )
      : null;
    const rows = h(
      "ul",
      { class: "rows", role: "list" },
      chats.map((chat) => {
        const unread = m.store.unread(chat);
        return h(
          "li",
          {},
          h(
            "button",
            {
              type: "button",
              class: `row chat-row${chat.key === m.openKey ? " active" : ""}${unread ? " unread" : ""}`,
              dataset: { key: chat.key },
              onclick: () => this.openChat(chat.key),
            },
            avatar(chat.name, chat.targetId + (chat.type === "group" ? 7 : 0)),
            h(
              "span",
              { class: "row-main" },
              h(
                "span",
                { class: "row-title" },
                h("span", { class: "name" }, chat.name || (chat.type === "group" ? "Group" : m.displayName(chat.targetId))),
                chat.type === "group" ? h("span", { class: "tag" }, "group") : null,
                chat.muted ? h("span", { class: "tag", title: "muted" }, "muted") : null,
              ),
              h("span", { class: "row-sub" }, this.preview(chat)),
            ),
            h(
              "span",
              { class: "row-side" },
              h("time", {}, shortTime(chat.updatedAt)),
              unread ? h("span", { class: `badge${chat.muted ? " quiet" : ""}`, dataset: { unread: String(unread) } }, unread > 99 ? "99+" : String(unread)) : null,
            ),
          ),
        );
      }),
    );
    return [rows, older];
  }

  preview(chat) {
    const m = this.m;
    if (chat.pending.length) {
      const last = chat.pending[chat.pending.length - 1];
      return `${last.state === "failed" ? "Not sent" : "Sending…"}: ${last.content.slice(0, 80)}`;
    }
    const msg = chat.lastMessage;
    if (!msg) return "";
    if (msg.status === 1) return "Message recalled";
    const text = msg.type === "text" ? msg.content : `[${msg.type}] ${msg.content || msg.extra?.name || ""}`;
    const who =
      msg.fromUserId === m.me.id ? "You: " : chat.type === "group" ? `${m.displayName(msg.fromUserId)}: ` : "";
    return `${who}${text.slice(0, 120)}`;
  }
}
