-- stompim schema, MySQL 8 / MariaDB 10.5+ dialect. This file is canonical; the repository
-- root `schema.sql` is a symlink to it, and `sqlite.sql` beside it must define the same
-- tables, columns and unique keys (tests/store/test_schema.py checks this on live databases).
--
-- Rules for everyone adding tables (stompim.store.migrate applies the file statement by
-- statement, on every start, so every statement must be idempotent):
--   * `CREATE TABLE IF NOT EXISTS`; indexes inline as KEY / UNIQUE KEY (MySQL 8 has no
--     `CREATE INDEX IF NOT EXISTS`); name unique keys uk_<table>_<cols>, others idx_<table>_<cols>.
--   * end every statement with `;` at the end of a line; comments are whole lines of `--`.
--   * table options exactly: ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
--     (binary collation: comparisons and uniqueness are case- and emoji-exact, as in SQLite;
--     the *_ci collations treat 'Alice' = 'alice' and every emoji as equal).
--   * timestamps BIGINT epoch milliseconds; booleans TINYINT 0/1; ids BIGINT AUTO_INCREMENT.

-- ======================================================================================
-- core: schema version
-- ======================================================================================
CREATE TABLE IF NOT EXISTS schema_version (
    version     INT     NOT NULL,
    applied_at  BIGINT  NOT NULL,
    PRIMARY KEY (version)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- ======================================================================================
-- accounts: users
-- ======================================================================================
CREATE TABLE IF NOT EXISTS users (
    id             BIGINT        NOT NULL AUTO_INCREMENT,
    username       VARCHAR(32)   NOT NULL,
    password_hash  VARCHAR(100)  NOT NULL,
    nickname       VARCHAR(64)   NOT NULL,
    avatar         VARCHAR(512)  NOT NULL DEFAULT '',
    phone          VARCHAR(20)   NULL DEFAULT NULL,
    signature      VARCHAR(255)  NOT NULL DEFAULT '',
    gender         TINYINT       NOT NULL DEFAULT 0,
    email          VARCHAR(128)  NOT NULL DEFAULT '',
    region         VARCHAR(64)   NOT NULL DEFAULT '',
    status         TINYINT       NOT NULL DEFAULT 1,
    credential_gen BIGINT        NOT NULL DEFAULT 0,
    created_at     BIGINT        NOT NULL,
    updated_at     BIGINT        NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uk_users_username (username),
    UNIQUE KEY uk_users_phone (phone)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- ======================================================================================
-- friends: (friends helper adds friend requests, friendships, blacklist here)
-- ======================================================================================
CREATE TABLE IF NOT EXISTS friend_request (
    id            BIGINT        NOT NULL AUTO_INCREMENT,
    from_user_id  BIGINT        NOT NULL,
    to_user_id    BIGINT        NOT NULL,
    message       VARCHAR(255)  NOT NULL DEFAULT '',
    status        TINYINT       NOT NULL DEFAULT 0,
    pending_pair  VARCHAR(48)   NULL DEFAULT NULL,
    created_at    BIGINT        NOT NULL,
    updated_at    BIGINT        NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uk_friend_request_pending_pair (pending_pair),
    KEY idx_friend_request_to (to_user_id, id),
    KEY idx_friend_request_from (from_user_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- one row per direction; status 1 active, 0 deleted (restored by a new accepted request)
CREATE TABLE IF NOT EXISTS friend (
    user_id     BIGINT       NOT NULL,
    friend_id   BIGINT       NOT NULL,
    remark      VARCHAR(64)  NOT NULL DEFAULT '',
    muted       TINYINT      NOT NULL DEFAULT 0,
    status      TINYINT      NOT NULL DEFAULT 1,
    created_at  BIGINT       NOT NULL,
    updated_at  BIGINT       NOT NULL,
    PRIMARY KEY (user_id, friend_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE IF NOT EXISTS friend_block (
    user_id     BIGINT  NOT NULL,
    blocked_id  BIGINT  NOT NULL,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (user_id, blocked_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- friends a user pulls into every group they create with useWhitelist
CREATE TABLE IF NOT EXISTS friend_whitelist (
    user_id     BIGINT  NOT NULL,
    member_id   BIGINT  NOT NULL,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (user_id, member_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- ======================================================================================
-- groups: (groups helper adds groups, members, invitations, whitelist here)
-- ======================================================================================
-- `chat_group`, not `groups` (reserved in MySQL 8); status 1 active, 0 dissolved
CREATE TABLE IF NOT EXISTS chat_group (
    id                   BIGINT         NOT NULL AUTO_INCREMENT,
    name                 VARCHAR(64)    NOT NULL,
    avatar               VARCHAR(512)   NOT NULL DEFAULT '',
    announcement         VARCHAR(1024)  NOT NULL DEFAULT '',
    owner_id             BIGINT         NOT NULL,
    member_count         INT            NOT NULL DEFAULT 0,
    max_members          INT            NOT NULL,
    all_muted            TINYINT        NOT NULL DEFAULT 0,
    allow_member_invite  TINYINT        NOT NULL DEFAULT 0,
    -- 1: plain members may mention @all too (owner and admins always may)
    allow_member_mention_all TINYINT    NOT NULL DEFAULT 0,
    status               TINYINT        NOT NULL DEFAULT 1,
    created_at           BIGINT         NOT NULL,
    updated_at           BIGINT         NOT NULL,
    join_policy          TINYINT        NOT NULL DEFAULT 0,
    PRIMARY KEY (id),
    KEY idx_chat_group_owner (owner_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- role 0 member, 1 admin, 2 owner; status 1 active, 0 left/kicked/dissolved
CREATE TABLE IF NOT EXISTS group_member (
    group_id    BIGINT       NOT NULL,
    user_id     BIGINT       NOT NULL,
    role        TINYINT      NOT NULL DEFAULT 0,
    nickname    VARCHAR(64)  NOT NULL DEFAULT '',
    muted       TINYINT      NOT NULL DEFAULT 0,
    status      TINYINT      NOT NULL DEFAULT 1,
    joined_at   BIGINT       NOT NULL,
    updated_at  BIGINT       NOT NULL,
    muted_until BIGINT       NOT NULL DEFAULT 0,
    PRIMARY KEY (group_id, user_id),
    KEY idx_group_member_user (user_id, status)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- status 0 pending, 1 accepted, 2 rejected/cancelled
CREATE TABLE IF NOT EXISTS group_invitation (
    id          BIGINT   NOT NULL AUTO_INCREMENT,
    group_id    BIGINT   NOT NULL,
    inviter_id  BIGINT   NOT NULL,
    invitee_id  BIGINT   NOT NULL,
    status      TINYINT  NOT NULL DEFAULT 0,
    expires_at  BIGINT   NOT NULL,
    created_at  BIGINT   NOT NULL,
    updated_at  BIGINT   NOT NULL,
    PRIMARY KEY (id),
    KEY idx_group_invitation_invitee (invitee_id, status),
    KEY idx_group_invitation_group (group_id, invitee_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- join requests (stompim.im.applications); status 0 pending, 1 approved, 2 rejected
CREATE TABLE IF NOT EXISTS group_application (
    id           BIGINT         NOT NULL AUTO_INCREMENT,
    group_id     BIGINT         NOT NULL,
    applicant_id BIGINT         NOT NULL,
    message      VARCHAR(255)   NOT NULL DEFAULT '',
    status       TINYINT        NOT NULL DEFAULT 0,
    handler_id   BIGINT         NOT NULL DEFAULT 0,
    created_at   BIGINT         NOT NULL,
    updated_at   BIGINT         NOT NULL,
    PRIMARY KEY (id),
    KEY idx_group_application_group (group_id, status),
    KEY idx_group_application_applicant (applicant_id, group_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- invite links: max_uses 0 = unlimited; status 1 active, 0 revoked
CREATE TABLE IF NOT EXISTS group_invite_link (
    id          BIGINT        NOT NULL AUTO_INCREMENT,
    group_id    BIGINT        NOT NULL,
    code        VARCHAR(64)   NOT NULL,
    creator_id  BIGINT        NOT NULL,
    expires_at  BIGINT        NOT NULL,
    max_uses    INT           NOT NULL DEFAULT 0,
    uses        INT           NOT NULL DEFAULT 0,
    status      TINYINT       NOT NULL DEFAULT 1,
    created_at  BIGINT        NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uk_group_invite_link_code (code),
    KEY idx_group_invite_link_group (group_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- ======================================================================================
-- notifications: (notifications helper adds its tables here)
-- ======================================================================================
CREATE TABLE IF NOT EXISTS notification (
    id          BIGINT        NOT NULL AUTO_INCREMENT,
    user_id     BIGINT        NOT NULL,
    type        VARCHAR(40)   NOT NULL,
    message     VARCHAR(512)  NOT NULL DEFAULT '',
    extra       TEXT          NOT NULL,
    is_read     TINYINT       NOT NULL DEFAULT 0,
    created_at  BIGINT        NOT NULL,
    PRIMARY KEY (id),
    KEY idx_notification_user (user_id, id),
    KEY idx_notification_user_read (user_id, is_read)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- ======================================================================================
-- chat: (chat helper adds conversations, members/read cursors, messages here)
-- ======================================================================================

-- A conversation is a user pair (pair_key 'p:<low>:<high>') or a group ('g:<groupId>').
-- last_seq is advanced in the same transaction as the message insert.
CREATE TABLE IF NOT EXISTS chat_conversation (
    id          BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    -- 1 private, 2 group
    chat_type   TINYINT      NOT NULL,
    -- private: lower user id
    user_a      BIGINT       NULL,
    -- private: higher user id
    user_b      BIGINT       NULL,
    group_id    BIGINT       NULL,
    pair_key    VARCHAR(64)  NOT NULL,
    last_seq    BIGINT       NOT NULL DEFAULT 0,
    created_at  BIGINT       NOT NULL,
    updated_at  BIGINT       NOT NULL,
    UNIQUE KEY uk_chat_conversation_pair (pair_key),
    KEY idx_chat_conversation_a (user_a, updated_at),
    KEY idx_chat_conversation_b (user_b, updated_at),
    KEY idx_chat_conversation_group (group_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One member's position in one conversation; unread = last_seq - read_seq.
-- Group rows are created lazily; joined_at is the group join time read_seq was based on.
CREATE TABLE IF NOT EXISTS chat_cursor (
    conversation_id BIGINT  NOT NULL,
    user_id         BIGINT  NOT NULL,
    read_seq        BIGINT  NOT NULL DEFAULT 0,
    -- hidden while last_seq <= hidden_seq
    hidden_seq      BIGINT  NOT NULL DEFAULT 0,
    -- per-member do-not-disturb
    muted           TINYINT NOT NULL DEFAULT 0,
    joined_at       BIGINT  NOT NULL DEFAULT 0,
    updated_at      BIGINT  NOT NULL,
    -- private chat: the highest seq a device of this user received (ACK or report)
    delivered_seq   BIGINT  NOT NULL DEFAULT 0,
    -- epoch ms the user pinned the conversation; 0 = not pinned
    pinned_at       BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, user_id),
    KEY idx_chat_cursor_user (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS chat_message (
    id              BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    conversation_id BIGINT       NOT NULL,
    seq             BIGINT       NOT NULL,
    sender_id       BIGINT       NOT NULL,
    -- 1 private, 2 group
    chat_type       TINYINT      NOT NULL,
    -- receiving user or group
    target_id       BIGINT       NOT NULL,
    -- text, image, file, audio, video, custom
    msg_type        VARCHAR(16)  NOT NULL,
    content         MEDIUMTEXT   NOT NULL,
    -- JSON object (media metadata)
    extra           TEXT         NULL,
    client_msg_id   VARCHAR(64)  NULL,
    -- 0 normal, 1 recalled
    status          TINYINT      NOT NULL DEFAULT 0,
    created_at      BIGINT       NOT NULL,
    recalled_at     BIGINT       NULL,
    -- last edit (NULL: never edited); the versions are in chat_message_edit
    edited_at       BIGINT       NULL,
    UNIQUE KEY uk_chat_message_seq (conversation_id, seq),
    UNIQUE KEY uk_chat_message_client (sender_id, client_msg_id),
    KEY idx_chat_message_created (conversation_id, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The private inbox of a user: every private message they sent or received, numbered
-- 1, 2, 3... per user (stompim.store.messages). last_seq moves in the transaction that
-- stores the messages, under its row lock, so one user's inbox seqs commit in order and
-- without holes: the `seq` of /queue/chat/<userId> and its x-since-seq resume.
CREATE TABLE IF NOT EXISTS chat_inbox (
    user_id     BIGINT       NOT NULL PRIMARY KEY,
    last_seq    BIGINT       NOT NULL DEFAULT 0
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One entry per (user, inbox seq): the message at that place of the user's inbox (two
-- entries per private message: the recipient's and the sender's own copy).
CREATE TABLE IF NOT EXISTS chat_inbox_message (
    user_id     BIGINT       NOT NULL,
    seq         BIGINT       NOT NULL,
    message_id  BIGINT       NOT NULL,
    PRIMARY KEY (user_id, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- ======================================================================================
-- media: uploaded files (schema version 2; stompim.store.media)
-- ======================================================================================
-- One stored object per distinct content (sha256 of the uploaded bytes). The served form
-- (images re-encoded without metadata) is `storage_key`, its thumbnail `storage_key.thumb`.
CREATE TABLE IF NOT EXISTS media_blob (
    id            BIGINT        NOT NULL AUTO_INCREMENT,
    sha256        CHAR(64)      NOT NULL,
    storage_key   VARCHAR(255)  NOT NULL,
    size          BIGINT        NOT NULL,
    content_type  VARCHAR(100)  NOT NULL,
    width         INT           NOT NULL DEFAULT 0,
    height        INT           NOT NULL DEFAULT 0,
    -- bytes of the thumbnail; 0 = none
    thumb_size    BIGINT        NOT NULL DEFAULT 0,
    thumb_type    VARCHAR(100)  NOT NULL DEFAULT '',
    created_at    BIGINT        NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uk_media_blob_sha256 (sha256)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- One row per upload (the fileId): its owner, purpose and name; content shared via blob_id.
-- touched_at: upload time, moved on every use; the sweep removes files without references
-- whose touched_at is older than media.unreferenced_ttl_seconds.
CREATE TABLE IF NOT EXISTS media_file (
    id          BIGINT        NOT NULL AUTO_INCREMENT,
    blob_id     BIGINT        NOT NULL,
    owner_id    BIGINT        NOT NULL,
    -- avatar, group-avatar, chat
    purpose     VARCHAR(16)   NOT NULL,
    name        VARCHAR(255)  NOT NULL DEFAULT '',
    created_at  BIGINT        NOT NULL,
    touched_at  BIGINT        NOT NULL,
    PRIMARY KEY (id),
    KEY idx_media_file_owner (owner_id),
    KEY idx_media_file_blob (blob_id),
    KEY idx_media_file_touched (touched_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- What uses a file: 'm:<messageId>' (a chat message, with its conversation),
-- 'u:<userId>' (a user's avatar), 'g:<groupId>' (a group's avatar).
CREATE TABLE IF NOT EXISTS media_ref (
    file_id          BIGINT       NOT NULL,
    subject          VARCHAR(32)  NOT NULL,
    conversation_id  BIGINT       NULL,
    created_at       BIGINT       NOT NULL,
    PRIMARY KEY (file_id, subject),
    KEY idx_media_ref_subject (subject)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- ======================================================================================
-- chat timeline: edits, reactions, delete-for-me, clear, mentions, pins (stompim.store.timeline)
-- ======================================================================================
-- Every version of an edited message: version 0 the original, 1.. each edit in order.
CREATE TABLE IF NOT EXISTS chat_message_edit (
    message_id  BIGINT      NOT NULL,
    version     INT         NOT NULL,
    content     MEDIUMTEXT  NOT NULL,
    edited_at   BIGINT      NOT NULL,
    PRIMARY KEY (message_id, version)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- One user's emoji reaction to one message (binary collation: every emoji distinct).
CREATE TABLE IF NOT EXISTS chat_reaction (
    message_id  BIGINT       NOT NULL,
    user_id     BIGINT       NOT NULL,
    emoji       VARCHAR(32)  NOT NULL,
    created_at  BIGINT       NOT NULL,
    PRIMARY KEY (message_id, user_id, emoji)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- Messages one user deleted for themselves only (never a copy; others unaffected).
CREATE TABLE IF NOT EXISTS chat_hidden (
    user_id          BIGINT  NOT NULL,
    message_id       BIGINT  NOT NULL,
    conversation_id  BIGINT  NOT NULL,
    created_at       BIGINT  NOT NULL,
    PRIMARY KEY (user_id, message_id),
    KEY idx_chat_hidden_conversation (user_id, conversation_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- One user's "clear history" floor: messages with seq <= seq are gone for that user.
CREATE TABLE IF NOT EXISTS chat_cleared (
    conversation_id  BIGINT  NOT NULL,
    user_id          BIGINT  NOT NULL,
    seq              BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL,
    PRIMARY KEY (conversation_id, user_id),
    KEY idx_chat_cleared_user (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- Who a group message mentions: user_id 0 is @all. Counted after the reader's read_seq.
CREATE TABLE IF NOT EXISTS chat_mention (
    conversation_id  BIGINT  NOT NULL,
    user_id          BIGINT  NOT NULL,
    seq              BIGINT  NOT NULL,
    message_id       BIGINT  NOT NULL,
    PRIMARY KEY (conversation_id, user_id, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- Messages pinned in a group by its owner or an admin.
CREATE TABLE IF NOT EXISTS chat_pin (
    group_id    BIGINT  NOT NULL,
    message_id  BIGINT  NOT NULL,
    pinned_by   BIGINT  NOT NULL,
    pinned_at   BIGINT  NOT NULL,
    PRIMARY KEY (group_id, message_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- ======================================================================================
-- live: presence settings and last seen (stompim.store.presence)
-- ======================================================================================
CREATE TABLE IF NOT EXISTS user_presence (
    user_id     BIGINT   NOT NULL,
    -- 1: friends get no online/offline events and GET /api/user/online shows offline
    hidden      TINYINT  NOT NULL DEFAULT 0,
    -- epoch ms when the user's last session ended (0 = never seen offline)
    last_seen   BIGINT   NOT NULL DEFAULT 0,
    updated_at  BIGINT   NOT NULL,
    PRIMARY KEY (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- A user's unsent text per conversation, synced across their devices (stompim.im.drafts).
CREATE TABLE IF NOT EXISTS chat_draft (
    conversation_id BIGINT      NOT NULL,
    user_id         BIGINT      NOT NULL,
    content         TEXT        NOT NULL,
    updated_at      BIGINT      NOT NULL,
    PRIMARY KEY (conversation_id, user_id),
    KEY idx_chat_draft_user (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
