-- stompim schema, SQLite dialect. Kept in step with mysql.sql (the canonical schema):
-- same tables, same columns, same unique keys; tests/store/test_schema.py checks this.
--
-- Rules (stompim.store.migrate applies the file statement by statement on every start):
--   * `CREATE TABLE IF NOT EXISTS` and `CREATE [UNIQUE] INDEX IF NOT EXISTS`, with the
--     same index names as the MySQL KEY / UNIQUE KEY; unique keys may also be inline.
--   * end every statement with `;` at the end of a line; comments are whole lines of `--`.
--   * ids: INTEGER PRIMARY KEY AUTOINCREMENT (never reuses ids, like MySQL AUTO_INCREMENT).
--   * timestamps INTEGER epoch milliseconds; booleans INTEGER 0/1.

-- ======================================================================================
-- core: schema version
-- ======================================================================================
CREATE TABLE IF NOT EXISTS schema_version (
    version     INTEGER NOT NULL PRIMARY KEY,
    applied_at  INTEGER NOT NULL
);

-- ======================================================================================
-- accounts: users
-- ======================================================================================
CREATE TABLE IF NOT EXISTS users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    username       VARCHAR(32)   NOT NULL,
    password_hash  VARCHAR(100)  NOT NULL,
    nickname       VARCHAR(64)   NOT NULL,
    avatar         VARCHAR(512)  NOT NULL DEFAULT '',
    phone          VARCHAR(20)   NULL DEFAULT NULL,
    signature      VARCHAR(255)  NOT NULL DEFAULT '',
    gender         INTEGER       NOT NULL DEFAULT 0,
    email          VARCHAR(128)  NOT NULL DEFAULT '',
    region         VARCHAR(64)   NOT NULL DEFAULT '',
    status         INTEGER       NOT NULL DEFAULT 1,
    credential_gen INTEGER       NOT NULL DEFAULT 0,
    created_at     INTEGER       NOT NULL,
    updated_at     INTEGER       NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS uk_users_username ON users (username);
CREATE UNIQUE INDEX IF NOT EXISTS uk_users_phone ON users (phone);

-- ======================================================================================
-- friends: (friends helper adds friend requests, friendships, blacklist here)
-- ======================================================================================
CREATE TABLE IF NOT EXISTS friend_request (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    from_user_id  INTEGER       NOT NULL,
    to_user_id    INTEGER       NOT NULL,
    message       VARCHAR(255)  NOT NULL DEFAULT '',
    status        INTEGER       NOT NULL DEFAULT 0,
    pending_pair  VARCHAR(48)   NULL DEFAULT NULL,
    created_at    INTEGER       NOT NULL,
    updated_at    INTEGER       NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS uk_friend_request_pending_pair ON friend_request (pending_pair);
CREATE INDEX IF NOT EXISTS idx_friend_request_to ON friend_request (to_user_id, id);
CREATE INDEX IF NOT EXISTS idx_friend_request_from ON friend_request (from_user_id, id);
-- one row per direction; status 1 active, 0 deleted (restored by a new accepted request)
CREATE TABLE IF NOT EXISTS friend (
    user_id     INTEGER      NOT NULL,
    friend_id   INTEGER      NOT NULL,
    remark      VARCHAR(64)  NOT NULL DEFAULT '',
    muted       INTEGER      NOT NULL DEFAULT 0,
    status      INTEGER      NOT NULL DEFAULT 1,
    created_at  INTEGER      NOT NULL,
    updated_at  INTEGER      NOT NULL,
    PRIMARY KEY (user_id, friend_id)
);
CREATE TABLE IF NOT EXISTS friend_block (
    user_id     INTEGER  NOT NULL,
    blocked_id  INTEGER  NOT NULL,
    created_at  INTEGER  NOT NULL,
    PRIMARY KEY (user_id, blocked_id)
);
-- friends a user pulls into every group they create with useWhitelist
CREATE TABLE IF NOT EXISTS friend_whitelist (
    user_id     INTEGER  NOT NULL,
    member_id   INTEGER  NOT NULL,
    created_at  INTEGER  NOT NULL,
    PRIMARY KEY (user_id, member_id)
);

-- ======================================================================================
-- groups: (groups helper adds groups, members, invitations, whitelist here)
-- ======================================================================================
-- `chat_group`, not `groups` (reserved in MySQL 8); status 1 active, 0 dissolved
CREATE TABLE IF NOT EXISTS chat_group (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    name                 VARCHAR(64)    NOT NULL,
    avatar               VARCHAR(512)   NOT NULL DEFAULT '',
    announcement         VARCHAR(1024)  NOT NULL DEFAULT '',
    owner_id             INTEGER        NOT NULL,
    member_count         INTEGER        NOT NULL DEFAULT 0,
    max_members          INTEGER        NOT NULL,
    all_muted            INTEGER        NOT NULL DEFAULT 0,
    allow_member_invite  INTEGER        NOT NULL DEFAULT 0,
    status               INTEGER        NOT NULL DEFAULT 1,
    created_at           INTEGER        NOT NULL,
    updated_at           INTEGER        NOT NULL,
    join_policy          INTEGER        NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS idx_chat_group_owner ON chat_group (owner_id);
-- role 0 member, 1 admin, 2 owner; status 1 active, 0 left/kicked/dissolved
CREATE TABLE IF NOT EXISTS group_member (
    group_id    INTEGER      NOT NULL,
    user_id     INTEGER      NOT NULL,
    role        INTEGER      NOT NULL DEFAULT 0,
    nickname    VARCHAR(64)  NOT NULL DEFAULT '',
    muted       INTEGER      NOT NULL DEFAULT 0,
    status      INTEGER      NOT NULL DEFAULT 1,
    joined_at   INTEGER      NOT NULL,
    updated_at  INTEGER      NOT NULL,
    muted_until INTEGER      NOT NULL DEFAULT 0,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX IF NOT EXISTS idx_group_member_user ON group_member (user_id, status);
-- status 0 pending, 1 accepted, 2 rejected/cancelled
CREATE TABLE IF NOT EXISTS group_invitation (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id    INTEGER  NOT NULL,
    inviter_id  INTEGER  NOT NULL,
    invitee_id  INTEGER  NOT NULL,
    status      INTEGER  NOT NULL DEFAULT 0,
    expires_at  INTEGER  NOT NULL,
    created_at  INTEGER  NOT NULL,
    updated_at  INTEGER  NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_group_invitation_invitee ON group_invitation (invitee_id, status);
CREATE INDEX IF NOT EXISTS idx_group_invitation_group ON group_invitation (group_id, invitee_id);
-- join requests (stompim.im.applications); status 0 pending, 1 approved, 2 rejected
CREATE TABLE IF NOT EXISTS group_application (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id     INTEGER        NOT NULL,
    applicant_id INTEGER        NOT NULL,
    message      VARCHAR(255)   NOT NULL DEFAULT '',
    status       INTEGER        NOT NULL DEFAULT 0,
    handler_id   INTEGER        NOT NULL DEFAULT 0,
    created_at   INTEGER        NOT NULL,
    updated_at   INTEGER        NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_group_application_group ON group_application (group_id, status);
CREATE INDEX IF NOT EXISTS idx_group_application_applicant ON group_application (applicant_id, group_id);
-- invite links: max_uses 0 = unlimited; status 1 active, 0 revoked
CREATE TABLE IF NOT EXISTS group_invite_link (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id    INTEGER       NOT NULL,
    code        VARCHAR(64)   NOT NULL,
    creator_id  INTEGER       NOT NULL,
    expires_at  INTEGER       NOT NULL,
    max_uses    INTEGER       NOT NULL DEFAULT 0,
    uses        INTEGER       NOT NULL DEFAULT 0,
    status      INTEGER       NOT NULL DEFAULT 1,
    created_at  INTEGER       NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS uk_group_invite_link_code ON group_invite_link (code);
CREATE INDEX IF NOT EXISTS idx_group_invite_link_group ON group_invite_link (group_id);

-- ======================================================================================
-- notifications: (notifications helper adds its tables here)
-- ======================================================================================
CREATE TABLE IF NOT EXISTS notification (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER       NOT NULL,
    type        VARCHAR(40)   NOT NULL,
    message     VARCHAR(512)  NOT NULL DEFAULT '',
    extra       TEXT          NOT NULL,
    is_read     INTEGER       NOT NULL DEFAULT 0,
    created_at  INTEGER       NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_notification_user ON notification (user_id, id);
CREATE INDEX IF NOT EXISTS idx_notification_user_read ON notification (user_id, is_read);

-- ======================================================================================
-- chat: (chat helper adds conversations, members/read cursors, messages here)
-- ======================================================================================

CREATE TABLE IF NOT EXISTS chat_conversation (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_type   INTEGER NOT NULL,
    user_a      INTEGER NULL,
    user_b      INTEGER NULL,
    group_id    INTEGER NULL,
    pair_key    TEXT    NOT NULL,
    last_seq    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS uk_chat_conversation_pair ON chat_conversation (pair_key);
CREATE INDEX IF NOT EXISTS idx_chat_conversation_a ON chat_conversation (user_a, updated_at);
CREATE INDEX IF NOT EXISTS idx_chat_conversation_b ON chat_conversation (user_b, updated_at);
CREATE INDEX IF NOT EXISTS idx_chat_conversation_group ON chat_conversation (group_id);

CREATE TABLE IF NOT EXISTS chat_cursor (
    conversation_id INTEGER NOT NULL,
    user_id         INTEGER NOT NULL,
    read_seq        INTEGER NOT NULL DEFAULT 0,
    hidden_seq      INTEGER NOT NULL DEFAULT 0,
    muted           INTEGER NOT NULL DEFAULT 0,
    joined_at       INTEGER NOT NULL DEFAULT 0,
    updated_at      INTEGER NOT NULL,
    delivered_seq   INTEGER NOT NULL DEFAULT 0,
    pinned_at       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX IF NOT EXISTS idx_chat_cursor_user ON chat_cursor (user_id);

CREATE TABLE IF NOT EXISTS chat_message (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL,
    seq             INTEGER NOT NULL,
    sender_id       INTEGER NOT NULL,
    chat_type       INTEGER NOT NULL,
    target_id       INTEGER NOT NULL,
    msg_type        TEXT    NOT NULL,
    content         TEXT    NOT NULL,
    extra           TEXT    NULL,
    client_msg_id   TEXT    NULL,
    status          INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    recalled_at     INTEGER NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS uk_chat_message_seq ON chat_message (conversation_id, seq);
CREATE UNIQUE INDEX IF NOT EXISTS uk_chat_message_client ON chat_message (sender_id, client_msg_id);
CREATE INDEX IF NOT EXISTS idx_chat_message_created ON chat_message (conversation_id, created_at);

-- The private inbox of a user (see mysql.sql).
CREATE TABLE IF NOT EXISTS chat_inbox (
    user_id     INTEGER NOT NULL PRIMARY KEY,
    last_seq    INTEGER NOT NULL DEFAULT 0
);

-- WITHOUT ROWID: the key is the table (one B-tree written per entry, not a rowid table
-- plus its key's index), as InnoDB's clustered primary key is.
CREATE TABLE IF NOT EXISTS chat_inbox_message (
    user_id     INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    message_id  INTEGER NOT NULL,
    PRIMARY KEY (user_id, seq)
) WITHOUT ROWID;

-- ======================================================================================
-- media: uploaded files (schema version 2; see mysql.sql for the meaning of the columns)
-- ======================================================================================
CREATE TABLE IF NOT EXISTS media_blob (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    sha256        TEXT     NOT NULL,
    storage_key   TEXT     NOT NULL,
    size          INTEGER  NOT NULL,
    content_type  TEXT     NOT NULL,
    width         INTEGER  NOT NULL DEFAULT 0,
    height        INTEGER  NOT NULL DEFAULT 0,
    thumb_size    INTEGER  NOT NULL DEFAULT 0,
    thumb_type    TEXT     NOT NULL DEFAULT '',
    created_at    INTEGER  NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS uk_media_blob_sha256 ON media_blob (sha256);

CREATE TABLE IF NOT EXISTS media_file (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    blob_id     INTEGER  NOT NULL,
    owner_id    INTEGER  NOT NULL,
    purpose     TEXT     NOT NULL,
    name        TEXT     NOT NULL DEFAULT '',
    created_at  INTEGER  NOT NULL,
    touched_at  INTEGER  NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_media_file_owner ON media_file (owner_id);
CREATE INDEX IF NOT EXISTS idx_media_file_blob ON media_file (blob_id);
CREATE INDEX IF NOT EXISTS idx_media_file_touched ON media_file (touched_at);

CREATE TABLE IF NOT EXISTS media_ref (
    file_id          INTEGER  NOT NULL,
    subject          TEXT     NOT NULL,
    conversation_id  INTEGER  NULL,
    created_at       INTEGER  NOT NULL,
    PRIMARY KEY (file_id, subject)
);
CREATE INDEX IF NOT EXISTS idx_media_ref_subject ON media_ref (subject);

-- ======================================================================================
-- live: presence settings and last seen (see mysql.sql)
-- ======================================================================================
CREATE TABLE IF NOT EXISTS user_presence (
    user_id     INTEGER  NOT NULL PRIMARY KEY,
    hidden      INTEGER  NOT NULL DEFAULT 0,
    last_seen   INTEGER  NOT NULL DEFAULT 0,
    updated_at  INTEGER  NOT NULL
);

CREATE TABLE IF NOT EXISTS chat_draft (
    conversation_id INTEGER NOT NULL,
    user_id         INTEGER NOT NULL,
    content         TEXT    NOT NULL,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX IF NOT EXISTS idx_chat_draft_user ON chat_draft (user_id);
