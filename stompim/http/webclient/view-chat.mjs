// The chat pane: header, the message log (scroll-back at the top), the composer.
//
// The log is rendered by key ("s:<seq>" stored, "c:<clientMsgId>" sending, "d:<day>"
// separators): an element is rebuilt only when what it shows changed, so a new message or a
// receipt does not disturb the rest (selection, scroll position).

import { avatar, clear, clockTime, dayLabel, h, modal, sameDay } from "./dom.mjs";
import { showMembers } from "./view-social.mjs";

const NEAR_BOTTOM = 48;
const NEAR_TOP = 80;
const CLAMP = 1200; // characters of a long message shown until "Show all"
const RUN_MS = 5 * 60 * 1000;

export class ChatView {
  constructor(pane, messenger, { onBack }) {
    this.pane = pane;
    this.m = messenger;
    this.onBack = onBack;
    this.key = null;
    this.nodes = new Map(); // render key -> {sig, el}
    this.expanded = new Set(); // seqs of long messages shown whole
    this.head = h("header", { class: "chat-head" });
    this.older = h(
      "button",
      { class: "ghost small older", type: "button", dataset: { action: "older" }, onclick: () => this.loadOlder() },
      "Load earlier messages",
    );
    this.list = h("div", { class: "messages", role: "log", "aria-live": "polite", tabindex: "0" });
    this.log = h("div", { class: "log" }, this.older, this.list);
    this.log.addEventListener("scroll", () => this.onScroll());
    this.jump = h(
      "button",
      { class: "jump", type: "button", hidden: true, onclick: () => this.scrollToBottom() },
      "New messages ↓",
    );
    this.input = h("textarea", {
      name: "message",
      rows: 1,
      placeholder: "Write a message…",
      maxlength: String(messenger.config.maxMessageLength),
      "aria-label": "Message",
    });
    this.counter = h("span", { class: "counter", "aria-live": "polite" });
    this.sendButton = h("button", { class: "primary", type: "submit", dataset: { action: "send" } }, "Send");
    this.composer = h("form", { class: "composer", name: "composer" }, this.input, this.counter, this.sendButton);
    this.composer.addEventListener("submit", (e) => {
      e.preventDefault();
      this.send();
    });
    this.input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.send();
      }
    });
    this.input.addEventListener("input", () => this.onInput());
    this.body = h("section", { class: "chat" }, this.head, this.log, this.jump, this.composer);
    this.empty = h(
      "div",
      { class: "chat-empty" },
      h("span", { class: "logo big", "aria-hidden": "true" }),
      h("h2", {}, "stompim"),
      h("p", { class: "muted" }, "Pick a chat, or start one from Contacts or Groups."),
    );
  }

  /** `detail` of a "chat" event: {key, opened, scroll: "bottom" | "keep" | "stay"}. */
  update({ key, opened = false, scroll } = {}) {
    if (!this.pane.firstChild) clear(this.pane, this.empty);
    if (opened || key !== this.key) {
      if (!opened && key !== this.m.openKey) return; // news of another chat
      this.key = key;
      this.nodes.clear();
      this.expanded.clear();
      clear(this.list);
      this.jump.hidden = true;
      if (!key) {
        clear(this.pane, this.empty);
        return;
      }
      clear(this.pane, this.body);
      this.input.value = this.drafts?.get(key) ?? "";
      this.onInput();
      this.renderHead();
      this.renderLog("bottom");
      if (window.matchMedia("(min-width: 761px)").matches) this.input.focus();
      return;
    }
    if (!this.key) return;
    this.renderHead();
    this.renderLog(scroll);
  }

  chat() {
    return this.m.store.chat(this.key);
  }

  renderHead() {
    const chat = this.chat();
    const m = this.m;
    const group = chat.type === "group" ? m.groups.get(chat.targetId) : null;
    const name = chat.name || (group ? group.name : m.displayName(chat.targetId));
    let subtitle = "";
    if (group) subtitle = `${group.memberCount} member${group.memberCount === 1 ? "" : "s"}`;
    else if (chat.type === "group") subtitle = "you are no longer a member";
    else subtitle = this.online === undefined ? "" : this.online ? "online" : "offline";
    const actions = [];
    if (group) {
      actions.push(
        h(
          "button",
          { class: "ghost small", type: "button", dataset: { action: "members" }, onclick: () => showMembers(m, group) },
          "Members",
        ),
      );
    }
    clear(
      this.head,
      h("button", { class: "icon back", type: "button", "aria-label": "Back to the list", onclick: this.onBack }, "‹"),
      avatar(name, chat.targetId + (chat.type === "group" ? 7 : 0)),
      h("div", { class: "head-text" }, h("h2", { class: "chat-title" }, name), h("span", { class: "muted" }, subtitle)),
      h("div", { class: "head-actions" }, actions),
    );
    if (chat.type === "private" && this.presenceFor !== chat.key) {
      this.presenceFor = chat.key;
      this.online = undefined;
      m.api
        .get("/api/user/online", { ids: chat.targetId })
        .then((map) => {
          if (this.key !== chat.key) return;
          this.online = Boolean(map[chat.targetId] ?? map[String(chat.targetId)]);
          this.renderHead();
        })
        .catch(() => {});
    }
    this.composer.hidden = chat.type === "group" && !group;
  }

  items() {
    const chat = this.chat();
    const m = this.m;
    const { stored, pending } = m.store.timeline(chat);
    const out = [];
    let lastDay = null;
    let lastSender = null;
    const day = (ms) => {
      if (lastDay !== null && sameDay(lastDay, ms)) return;
      lastDay = ms;
      lastSender = null;
      const d = new Date(ms);
      out.push({
        key: `d:${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`,
        sig: "",
        build: () => h("div", { class: "day" }, h("span", {}, dayLabel(ms))),
      });
    };
    stored.forEach((msg, i) => {
      day(msg.createdAt);
      if (msg.type === "system") {
        // A group event ("alice added bob"): a line across the log, not a bubble.
        lastSender = null;
        out.push({
          key: `s:${msg.seq}`,
          sig: `sys|${msg.content}`,
          build: () =>
            h("div", { class: "notice", dataset: { seq: String(msg.seq), event: msg.extra?.event ?? "" } },
              h("span", {}, msg.content)),
        });
        return;
      }
      const mine = msg.fromUserId === m.me.id;
      const showSender = chat.type === "group" && !mine && lastSender !== msg.fromUserId;
      lastSender = msg.fromUserId;
      const next = stored[i + 1];
      // The last of a run (same sender, within RUN_MS) shows its time and state; the others
      // show them on hover.
      const inRun = next
        ? next.type !== "system" && next.fromUserId === msg.fromUserId && next.createdAt - msg.createdAt < RUN_MS
        : mine && pending.length > 0;
      const state = mine ? m.store.deliveryState(chat, msg) : "";
      const readBy = mine && chat.type === "group" ? chat.readCounts.get(msg.seq) ?? 0 : 0;
      const recallable = m.canRecall(chat, msg);
      const sender = showSender ? m.displayName(msg.fromUserId) : "";
      const whole = this.expanded.has(msg.seq);
      out.push({
        key: `s:${msg.seq}`,
        sig: `${msg.status}|${msg.content.length}|${state}|${recallable}|${sender}|${whole}|${inRun}|${readBy}`,
        build: () => this.storedMessage(chat, msg, { mine, state, recallable, sender, inRun, readBy }),
      });
    });
    for (const entry of pending) {
      day(entry.createdAt);
      lastSender = m.me.id;
      out.push({
        key: `c:${entry.clientMsgId}`,
        sig: `${entry.state}|${entry.error}`,
        build: () => this.pendingMessage(chat, entry),
      });
    }
    return out;
  }

  storedMessage(chat, msg, { mine, state, recallable, sender, inRun, readBy = 0 }) {
    const m = this.m;
    const recalled = msg.status === 1;
    let text;
    if (recalled) {
      const by = msg.recalledBy && msg.recalledBy !== msg.fromUserId ? ` by ${m.displayName(msg.recalledBy)}` : "";
      text = mine && !by ? "You recalled a message" : `Message recalled${by}`;
    } else if (msg.type === "text") {
      text = msg.content;
      if (text.length > CLAMP + 200 && !this.expanded.has(msg.seq)) {
        text = [
          `${text.slice(0, CLAMP)}… `,
          h(
            "button",
            {
              class: "link more-text",
              type: "button",
              onclick: () => {
                this.expanded.add(msg.seq);
                this.renderLog("stay");
              },
            },
            `Show all (${msg.content.length.toLocaleString()} characters)`,
          ),
        ];
      }
    } else {
      text = `[${msg.type}] ${msg.content || msg.extra?.name || msg.extra?.url || ""}`;
    }
    const meta = [h("time", { datetime: new Date(msg.createdAt).toISOString() }, clockTime(msg.createdAt))];
    if (mine && !recalled) {
      const label = readBy ? `Read by ${readBy}` : state === "read" ? "Read" : "Sent";
      meta.push(h("span", { class: `state ${state}`, dataset: { state } }, label));
    }
    if (recallable) {
      meta.push(
        h(
          "button",
          {
            class: "link",
            type: "button",
            dataset: { action: "recall" },
            onclick: async () => {
              if (await confirmRecall()) m.recall(chat, msg);
            },
          },
          "Recall",
        ),
      );
    }
    return h(
      "div",
      {
        class: `msg ${mine ? "mine" : "theirs"}${recalled ? " recalled" : ""}${inRun ? " in-run" : ""}`,
        dataset: { seq: String(msg.seq), id: String(msg.id) },
      },
      chat.type === "group" && !mine
        ? sender
          ? avatar(sender, msg.fromUserId, "small")
          : h("span", { class: "avatar-space" })
        : null,
      h(
        "div",
        { class: "bubble-wrap" },
        sender ? h("div", { class: "sender" }, sender) : null,
        h("div", { class: "bubble" }, text),
        h("div", { class: "meta" }, meta),
      ),
    );
  }

  pendingMessage(chat, entry) {
    const failed = entry.state === "failed";
    const meta = [
      h("time", {}, clockTime(entry.createdAt)),
      h(
        "span",
        { class: `state ${entry.state}`, dataset: { state: entry.state } },
        failed ? `Not sent: ${entry.error}` : "Sending…",
      ),
    ];
    if (failed) {
      meta.push(
        h("button", { class: "link", type: "button", onclick: () => this.m.outbox.retry(chat, entry) }, "Retry"),
        h("button", { class: "link", type: "button", onclick: () => this.m.outbox.discard(chat, entry) }, "Discard"),
      );
    }
    return h(
      "div",
      { class: `msg mine pending${failed ? " failed" : ""}`, dataset: { cid: entry.clientMsgId } },
      h("div", { class: "bubble-wrap" }, h("div", { class: "bubble" }, entry.content), h("div", { class: "meta" }, meta)),
    );
  }

  renderLog(scroll) {
    const log = this.log;
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < NEAR_BOTTOM;
    const height = log.scrollHeight;
    const top = log.scrollTop;
    const items = this.items();
    const keep = new Set();
    let added = false;
    let previous = null;
    for (const item of items) {
      keep.add(item.key);
      let node = this.nodes.get(item.key);
      if (!node || node.sig !== item.sig) {
        const el = item.build();
        if (node) node.el.replaceWith(el);
        else added = true;
        node = { sig: item.sig, el };
        this.nodes.set(item.key, node);
      }
      // Put it right after the previous one (moves only what is out of place).
      const expected = previous ? previous.nextSibling : this.list.firstChild;
      if (expected !== node.el) this.list.insertBefore(node.el, expected);
      previous = node.el;
    }
    for (const [key, node] of this.nodes) {
      if (!keep.has(key)) {
        node.el.remove();
        this.nodes.delete(key);
      }
    }
    const chat = this.chat();
    this.older.hidden = !this.m.store.hasOlder(chat) || !chat.conversationId;
    if (!items.length) {
      this.list.replaceChildren(h("p", { class: "muted hello" }, "No messages yet. Say hello!"));
      this.nodes.clear();
    } else {
      this.list.querySelector(".hello")?.remove();
    }
    if (scroll === "keep") {
      log.scrollTop = top + (log.scrollHeight - height); // rows were added above
    } else if (scroll === "stay") {
      log.scrollTop = top;
    } else if (scroll === "bottom" || atBottom) {
      this.scrollToBottom();
    } else if (added) {
      this.jump.hidden = false;
    }
  }

  scrollToBottom() {
    this.log.scrollTop = this.log.scrollHeight;
    this.jump.hidden = true;
  }

  onScroll() {
    const log = this.log;
    if (log.scrollHeight - log.scrollTop - log.clientHeight < NEAR_BOTTOM) this.jump.hidden = true;
    if (log.scrollTop < NEAR_TOP && this.key) {
      const chat = this.chat();
      if (chat.historyLoaded && this.m.store.hasOlder(chat)) this.loadOlder();
    }
  }

  loadOlder() {
    if (this.key) this.m.loadOlder(this.chat());
  }

  onInput() {
    const input = this.input;
    const limit = this.m.config.maxMessageLength;
    const length = input.value.length;
    this.counter.textContent = length > limit * 0.8 ? `${length} / ${limit}` : "";
    this.counter.classList.toggle("over", length > limit);
    this.sendButton.disabled = !input.value.trim() || length > limit;
    input.style.height = "auto";
    const border = input.offsetHeight - input.clientHeight;
    const height = Math.min(input.scrollHeight + border, 160);
    input.style.height = `${height}px`;
    input.style.overflowY = height >= 160 ? "auto" : "hidden";
    if (this.key) {
      this.drafts ??= new Map();
      this.drafts.set(this.key, input.value);
    }
  }

  send() {
    const text = this.input.value;
    if (!text.trim() || text.length > this.m.config.maxMessageLength || !this.key) return;
    this.input.value = "";
    this.onInput();
    this.m.outbox.add(this.chat(), text);
    this.scrollToBottom();
  }
}

function confirmRecall() {
  let answer = false;
  return modal("Recall this message?", (close) =>
    h(
      "div",
      {},
      h("p", {}, "It disappears for everyone in the chat."),
      h(
        "div",
        { class: "actions" },
        h("button", { class: "ghost", type: "button", onclick: close }, "Cancel"),
        h(
          "button",
          {
            class: "danger",
            type: "button",
            dataset: { action: "confirm" },
            onclick: () => {
              answer = true;
              close();
            },
          },
          "Recall",
        ),
      ),
    ),
  ).then(() => answer);
}
