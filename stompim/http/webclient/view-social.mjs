// The Contacts, Groups and Alerts tabs, and the group dialogs (new group, members, invite).
// Each render function fills `panel` from the Messenger's lists; `ctx.openChat(key)` opens a
// chat, `ctx.selectTab(id)` shows another tab.

import { chatKey } from "./chat-store.mjs";
import { avatar, clear, h, modal, shortTime } from "./dom.mjs";

const ROLES = ["member", "admin", "owner"];

/** Runs an action of a button: disabled meanwhile, errors shown as a toast. */
async function act(m, button, action, done) {
  if (button) button.disabled = true;
  try {
    const result = await action();
    if (done) m.toast(done);
    return result;
  } catch (error) {
    m.toast(error.message, "error");
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

function person(name, id, sub, ...actions) {
  return h(
    "li",
    { class: "row person" },
    avatar(name, id),
    h("span", { class: "row-main" }, h("span", { class: "row-title" }, h("span", { class: "name" }, name)), sub ? h("span", { class: "row-sub" }, sub) : null),
    actions.length ? h("span", { class: "row-actions" }, actions) : null,
  );
}

function section(title, count, ...content) {
  return h(
    "section",
    { class: "side-section" },
    h("h3", {}, title, count !== null ? h("span", { class: "count" }, String(count)) : null),
    content,
  );
}

// -- contacts --------------------------------------------------------------------------

export function renderContacts(panel, ctx) {
  const { m } = ctx;
  // The last search survives redraws of the tab (kept on its panel element).
  panel.searchResults ||= { list: null, keyword: "" };
  const results = panel.searchResults;
  const input = h("input", {
    name: "search",
    type: "search",
    placeholder: "Find people by username or phone",
    autocomplete: "off",
    value: results.keyword,
    "aria-label": "Find people",
  });
  const form = h(
    "form",
    { class: "search", name: "search" },
    input,
    h("button", { class: "primary small", type: "submit", dataset: { action: "search" } }, "Search"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const keyword = input.value.trim();
    if (!keyword) return;
    const found = await act(m, null, () => m.api.get("/api/user/search", { keyword }));
    const list = found?.records;
    if (list) {
      for (const user of list) m.directory.remember(user);
      results.list = list;
      results.keyword = keyword;
      renderContacts(panel, ctx);
    }
  });

  const friendIds = new Set(m.directory.friends.map((f) => f.friendId));
  const pendingTo = new Set(m.directory.requestsOut.filter((r) => r.status === 0).map((r) => r.toUserId));
  let found = null;
  if (results.list) {
    found = h(
      "ul",
      { class: "rows results", dataset: { list: "search" } },
      results.list.length
        ? results.list.map((user) => {
            const name = user.nickname || user.username;
            let action;
            if (user.id === m.me.id) action = h("span", { class: "muted" }, "you");
            else if (friendIds.has(user.id)) {
              action = h(
                "button",
                { class: "ghost small", type: "button", onclick: () => ctx.openChat(chatKey("private", user.id)) },
                "Message",
              );
            } else if (pendingTo.has(user.id)) action = h("span", { class: "muted" }, "requested");
            else {
              action = h(
                "button",
                {
                  class: "primary small",
                  type: "button",
                  dataset: { action: "add-friend", user: user.username },
                  onclick: async (e) => {
                    const sent = await act(
                      m,
                      e.currentTarget,
                      () => m.api.post("/api/friend/request", { toUserId: user.id, message: `Hi, it's ${m.me.nickname || m.me.username}` }),
                      "Friend request sent",
                    );
                    if (sent) {
                      await m.directory.loadRequests().catch(() => {});
                      if (sent.status === 1) await m.directory.loadFriends().catch(() => {});
                    }
                  },
                },
                "Add friend",
              );
            }
            return person(name, user.id, `@${user.username}`, action);
          })
        : h("li", { class: "muted pad" }, `Nobody is called “${results.keyword}”.`),
    );
  }

  const incoming = m.directory.requestsIn.filter((r) => r.status === 0);
  const outgoing = m.directory.requestsOut.filter((r) => r.status === 0);
  const requests = incoming.map((r) => {
    const who = r.fromUser ?? { id: r.fromUserId };
    const name = who.nickname || who.username || `user ${r.fromUserId}`;
    const answer = (verb) => async (e) => {
      await act(m, e.currentTarget, () => m.api.post(`/api/friend/request/${r.id}/${verb}`));
      await Promise.allSettled([m.directory.loadRequests(), m.directory.loadFriends()]);
    };
    return person(
      name,
      who.id,
      r.message || `@${who.username ?? ""}`,
      h("button", { class: "primary small", type: "button", dataset: { action: "accept", user: who.username ?? "" }, onclick: answer("accept") }, "Accept"),
      h("button", { class: "ghost small", type: "button", dataset: { action: "reject", user: who.username ?? "" }, onclick: answer("reject") }, "Decline"),
    );
  });
  const friends = [...m.directory.friends].sort((a, b) =>
    (a.remark || a.nickname || a.username).localeCompare(b.remark || b.nickname || b.username),
  );
  clear(
    panel,
    form,
    found,
    incoming.length ? section("Friend requests", incoming.length, h("ul", { class: "rows", dataset: { list: "requests" } }, requests)) : null,
    outgoing.length
      ? section(
          "Waiting for an answer",
          outgoing.length,
          h(
            "ul",
            { class: "rows" },
            outgoing.map((r) => {
              const who = r.toUser ?? { id: r.toUserId };
              return person(who.nickname || who.username || `user ${r.toUserId}`, who.id, "request sent");
            }),
          ),
        )
      : null,
    section(
      "Friends",
      friends.length,
      friends.length
        ? h(
            "ul",
            { class: "rows", dataset: { list: "friends" } },
            friends.map((f) =>
              h(
                "li",
                {},
                h(
                  "button",
                  { class: "row", type: "button", dataset: { friend: f.username }, onclick: () => ctx.openChat(chatKey("private", f.friendId)) },
                  avatar(f.remark || f.nickname || f.username, f.friendId),
                  h(
                    "span",
                    { class: "row-main" },
                    h("span", { class: "row-title" }, h("span", { class: "name" }, f.remark || f.nickname || f.username)),
                    h("span", { class: "row-sub" }, f.signature || `@${f.username}`),
                  ),
                ),
              ),
            ),
          )
        : h("p", { class: "muted pad" }, "Search for someone above and send a friend request."),
    ),
  );
}

// -- groups ------------------------------------------------------------------------------

export function renderGroups(panel, ctx) {
  const { m } = ctx;
  const invitations = m.directory.invitations.map((inv) => {
    const answer = (verb) => async (e) => {
      await act(m, e.currentTarget, () => m.api.post(`/api/group/invitation/${inv.id}/${verb}`), verb === "accept" ? `You joined ${inv.groupName}` : null);
      await Promise.allSettled([m.directory.loadInvitations(), m.loadGroups()]);
    };
    const inviter = inv.inviter?.nickname || inv.inviter?.username || "someone";
    return person(
      inv.groupName,
      inv.groupId + 7,
      `from ${inviter} · ${inv.memberCount} members`,
      h("button", { class: "primary small", type: "button", dataset: { action: "join", group: inv.groupName }, onclick: answer("accept") }, "Join"),
      h("button", { class: "ghost small", type: "button", onclick: answer("reject") }, "Decline"),
    );
  });
  const groups = [...m.groups.values()].sort((a, b) => a.name.localeCompare(b.name));
  clear(
    panel,
    h(
      "div",
      { class: "panel-actions" },
      h("button", { class: "primary", type: "button", dataset: { action: "new-group" }, onclick: () => newGroup(m, ctx) }, "New group"),
    ),
    invitations.length ? section("Invitations", invitations.length, h("ul", { class: "rows", dataset: { list: "invitations" } }, invitations)) : null,
    section(
      "My groups",
      groups.length,
      groups.length
        ? h(
            "ul",
            { class: "rows", dataset: { list: "groups" } },
            groups.map((g) =>
              h(
                "li",
                {},
                h(
                  "button",
                  { class: "row", type: "button", dataset: { group: g.name }, onclick: () => ctx.openChat(chatKey("group", g.id)) },
                  avatar(g.name, g.id + 7),
                  h(
                    "span",
                    { class: "row-main" },
                    h("span", { class: "row-title" }, h("span", { class: "name" }, g.name), g.myRole ? h("span", { class: "tag" }, ROLES[g.myRole]) : null),
                    h("span", { class: "row-sub" }, g.announcement || `${g.memberCount} members`),
                  ),
                ),
              ),
            ),
          )
        : h("p", { class: "muted pad" }, "No groups yet. Create one and invite friends."),
    ),
  );
}

function friendPicker(m, exclude = new Set()) {
  const choices = m.directory.friends.filter((f) => !exclude.has(f.friendId));
  const boxes = choices.map((f) => ({
    id: f.friendId,
    box: h("input", { type: "checkbox", name: "member", value: String(f.friendId), dataset: { user: f.username } }),
    name: f.remark || f.nickname || f.username,
  }));
  const el = boxes.length
    ? h(
        "div",
        { class: "picker" },
        boxes.map(({ id, box, name }) => h("label", { class: "pick" }, box, avatar(name, id, "small"), h("span", {}, name))),
      )
    : h("p", { class: "muted" }, "No friends to add.");
  return { el, selected: () => boxes.filter((b) => b.box.checked).map((b) => b.id) };
}

function newGroup(m, ctx) {
  modal("New group", (close) => {
    const name = h("input", { name: "groupName", required: true, maxlength: 64, placeholder: "Weekend hikers" });
    const picker = friendPicker(m);
    const error = h("p", { class: "form-error", role: "alert" });
    const form = h(
      "form",
      { name: "new-group" },
      h("label", { class: "field" }, h("span", {}, "Name"), name),
      h("div", { class: "field" }, h("span", {}, "Friends to add"), picker.el),
      error,
      h(
        "div",
        { class: "actions" },
        h("button", { class: "ghost", type: "button", onclick: close }, "Cancel"),
        h("button", { class: "primary", type: "submit", dataset: { action: "create-group" } }, "Create"),
      ),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!name.value.trim()) {
        error.textContent = "Give the group a name.";
        return;
      }
      try {
        const group = await m.api.post("/api/group", { name: name.value.trim(), memberIds: picker.selected() });
        close();
        await m.loadGroups();
        ctx.openChat(chatKey("group", group.id));
      } catch (e) {
        error.textContent = e.message;
      }
    });
    setTimeout(() => name.focus());
    return form;
  });
}

/** The members dialog of a group: roles, invite friends, leave. */
export function showMembers(m, group) {
  modal(group.name, (close) => {
    const list = h("ul", { class: "rows members", dataset: { list: "members" } }, h("li", { class: "muted pad" }, "Loading…"));
    const inviteBox = h("div", { class: "invite" });
    let memberIds = new Set();
    m.api
      .all(`/api/group/${group.id}/members`)
      .then((members) => {
        memberIds = new Set(members.map((x) => x.userId));
        members.sort((a, b) => b.role - a.role || (a.nickname || a.username).localeCompare(b.nickname || b.username));
        for (const x of members) m.directory.remember({ id: x.userId, username: x.username, nickname: x.nickname, avatar: x.avatar });
        clear(
          list,
          members.map((x) =>
            person(
              x.groupNickname || x.nickname || x.username,
              x.userId,
              `@${x.username}${x.userId === m.me.id ? " · you" : ""}`,
              x.role ? h("span", { class: "tag" }, ROLES[x.role]) : null,
            ),
          ),
        );
        const canInvite = group.myRole >= 1 || group.allowMemberInvite;
        if (!canInvite) return;
        const picker = friendPicker(m, memberIds);
        clear(
          inviteBox,
          h("h3", {}, "Invite friends"),
          picker.el,
          h(
            "button",
            {
              class: "primary small",
              type: "button",
              dataset: { action: "invite" },
              onclick: async (e) => {
                const ids = picker.selected();
                if (!ids.length) return;
                const done = await act(m, e.currentTarget, () => m.api.post(`/api/group/${group.id}/invite`, { userIds: ids }), "Invitations sent");
                if (done) close();
              },
            },
            "Send invitations",
          ),
        );
      })
      .catch((error) => clear(list, h("li", { class: "form-error pad" }, error.message)));
    const leave = h(
      "button",
      {
        class: "danger small",
        type: "button",
        dataset: { action: "quit" },
        onclick: async (e) => {
          const left = await act(m, e.currentTarget, () => m.api.post(`/api/group/${group.id}/quit`), `You left ${group.name}`);
          if (left !== undefined) {
            close();
            await m.loadGroups().catch(() => {});
          }
        },
      },
      group.myRole === 2 ? "Leave (transfer ownership first)" : "Leave group",
    );
    return h("div", { class: "members-dialog" }, list, inviteBox, h("div", { class: "actions" }, leave));
  });
}

// -- alerts ------------------------------------------------------------------------------

export function renderAlerts(panel, ctx) {
  const { m } = ctx;
  const n = m.directory.notifications;
  if (!n.page) {
    clear(panel, h("p", { class: "muted pad" }, "Loading…"));
    return;
  }
  clear(
    panel,
    h(
      "div",
      { class: "panel-actions" },
      h("span", { class: "muted" }, n.unread ? `${n.unread} unread` : "All caught up"),
      n.unread
        ? h(
            "button",
            { class: "ghost small", type: "button", dataset: { action: "read-all" }, onclick: (e) => act(m, e.currentTarget, () => m.directory.markNotificationsRead()) },
            "Mark all read",
          )
        : null,
    ),
    n.list.length
      ? h(
          "ul",
          { class: "rows alerts", dataset: { list: "alerts" } },
          n.list.map((x) =>
            h(
              "li",
              {},
              h(
                "button",
                {
                  type: "button",
                  class: `row alert${x.read ? "" : " unread"}`,
                  dataset: { type: x.type },
                  onclick: () => followAlert(ctx, x),
                },
                h("span", { class: "alert-dot", "aria-hidden": "true" }),
                h(
                  "span",
                  { class: "row-main" },
                  h("span", { class: "row-text" }, x.message),
                  h("span", { class: "row-sub" }, `${x.type.replace(/_/g, " ").toLowerCase()} · ${shortTime(x.createdAt)}`),
                ),
              ),
            ),
          ),
        )
      : h("p", { class: "muted pad" }, "Friend requests, invitations and group news show up here."),
    n.list.length < n.total
      ? h("button", { class: "ghost small more", type: "button", onclick: () => m.directory.loadNotifications(true).catch(() => {}) }, "Show older")
      : null,
  );
}

/** Clicking an alert marks it read and shows what it is about. */
function followAlert(ctx, n) {
  const { m } = ctx;
  m.directory.markNotificationRead(n).catch((error) => m.toast(error.message, "error"));
  const groupId = Number(n.extra?.groupId);
  if (n.type.startsWith("FRIEND_")) ctx.selectTab("contacts");
  else if (n.type === "GROUP_INVITATION") ctx.selectTab("groups");
  else if (groupId && m.groups.has(groupId)) ctx.openChat(chatKey("group", groupId));
  else if (n.type.startsWith("GROUP_") || n.type.startsWith("INVITATION_")) ctx.selectTab("groups");
}
