// The people side of the web client, loaded over REST: who is who (names), friends, friend
// requests, group invitations and the notification center. No DOM; it announces changes
// through `emit` ("social", "notifications", "people") and is owned by the Messenger, which
// also feeds it the live notification pushes.

export class Directory {
  constructor(api, me, emit) {
    this.api = api;
    this.me = me;
    this.emit = emit;
    this.people = new Map(); // user id -> {id, username, nickname, avatar}
    this.lookups = new Set(); // user ids asked for already
    this.friends = [];
    this.requestsIn = [];
    this.requestsOut = [];
    this.invitations = [];
    this.notifications = { list: [], total: 0, unread: 0, page: 0 };
    this.remember(me);
  }

  remember(user) {
    if (!user || !user.id) return;
    this.people.set(user.id, { ...this.people.get(user.id), ...user });
  }

  /** My remark for a friend, else the nickname, else the username; fetched once if unknown. */
  displayName(userId) {
    if (userId === this.me.id) return this.me.nickname || this.me.username;
    const friend = this.friends.find((f) => f.friendId === userId);
    if (friend) return friend.remark || friend.nickname || friend.username;
    const person = this.people.get(userId);
    if (person) return person.nickname || person.username || `user ${userId}`;
    this.lookUp(userId);
    return `user ${userId}`;
  }

  lookUp(userId) {
    if (this.lookups.has(userId)) return;
    this.lookups.add(userId);
    this.api
      .get(`/api/user/info/${userId}`)
      .then((user) => {
        this.remember(user);
        this.emit("people");
      })
      .catch(() => {});
  }

  async loadFriends() {
    this.friends = await this.api.get("/api/friend/list");
    for (const f of this.friends) {
      this.remember({ id: f.friendId, username: f.username, nickname: f.nickname, avatar: f.avatar });
    }
    this.emit("social");
  }

  async loadRequests() {
    const [incoming, outgoing] = await Promise.all([
      this.api.all("/api/friend/request/received"),
      this.api.all("/api/friend/request/sent"),
    ]);
    this.requestsIn = incoming;
    this.requestsOut = outgoing;
    for (const r of incoming) this.remember(r.fromUser);
    for (const r of outgoing) this.remember(r.toUser);
    this.emit("social");
  }

  async loadInvitations() {
    this.invitations = await this.api.get("/api/group/invitation");
    this.emit("social");
  }

  async loadNotificationCount() {
    this.notifications.unread = await this.api.get("/api/notification/unread-count");
    this.emit("notifications");
  }

  /** The first page, or (`more`) the next one appended. */
  async loadNotifications(more = false) {
    const page = more ? this.notifications.page + 1 : 1;
    const data = await this.api.get("/api/notification", { current: page, size: 20 });
    const list = more ? [...this.notifications.list, ...data.records] : data.records;
    const seen = new Set();
    this.notifications.list = list.filter((n) => !seen.has(n.id) && seen.add(n.id));
    this.notifications.total = data.total;
    this.notifications.page = page;
    this.emit("notifications");
  }

  /** A notification pushed on /user/queue/notification. */
  addNotification(n) {
    this.notifications.unread += n.read ? 0 : 1;
    if (this.notifications.page) {
      this.notifications.list = [n, ...this.notifications.list.filter((x) => x.id !== n.id)];
      this.notifications.total += 1;
    }
    this.emit("notifications");
  }

  async markNotificationRead(n) {
    if (n.read) return;
    await this.api.put("/api/notification/read", { ids: [n.id] });
    n.read = true;
    this.notifications.unread = Math.max(0, this.notifications.unread - 1);
    this.emit("notifications");
  }

  async markNotificationsRead() {
    await this.api.put("/api/notification/read-all");
    for (const n of this.notifications.list) n.read = true;
    this.notifications.unread = 0;
    this.emit("notifications");
  }

  /** Everything again, after a reconnect (pushes are not replayed). */
  reload() {
    return Promise.allSettled([
      this.loadFriends(),
      this.loadRequests(),
      this.loadInvitations(),
      this.loadNotificationCount(),
      this.notifications.page ? this.loadNotifications() : null,
    ]);
  }
}
