-- Accounts, the synced records, the per-scope changelog, and push receipts.
-- Ids are UUID text; times are milliseconds since the epoch (what clients send).

CREATE TABLE users (
    id             TEXT PRIMARY KEY NOT NULL,
    name           TEXT NOT NULL,
    -- Normalised (trimmed, lower case) at sign-up, so UNIQUE means one account per address.
    email          TEXT NOT NULL UNIQUE,
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    image          TEXT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    is_anonymous   BOOLEAN NOT NULL DEFAULT FALSE,
    password_hash  TEXT NOT NULL
);

CREATE TABLE boards (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX boards_user_id ON boards (user_id);

CREATE TABLE todos (
    id           TEXT PRIMARY KEY NOT NULL,
    title        TEXT NOT NULL,
    description  TEXT,
    is_completed BOOLEAN NOT NULL,
    created_at   BIGINT NOT NULL,
    board_id     TEXT NOT NULL REFERENCES boards (id) ON DELETE CASCADE
);
CREATE INDEX todos_board_id ON todos (board_id);

-- One row per scope (a user): the last changelog number handed out. A writer locks this
-- row first and keeps it until commit, so a scope's numbers commit in order.
CREATE TABLE scopes (
    scope_key TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    last_seq  BIGINT NOT NULL
);

CREATE TABLE changelog (
    scope_key       TEXT NOT NULL REFERENCES scopes (scope_key) ON DELETE CASCADE,
    seq             BIGINT NOT NULL,
    model           TEXT NOT NULL,
    key_path        TEXT NOT NULL,
    operation       TEXT NOT NULL CHECK (operation IN ('create', 'update', 'delete')),
    -- Not unique: a board delete logs its todos' deletions under the same event.
    outbox_event_id TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (scope_key, seq)
) WITHOUT ROWID;
CREATE INDEX changelog_outbox_event_id ON changelog (outbox_event_id);

-- Each applied outbox event, once: what makes a replay answer the same changelog id,
-- and what keeps one event id from being applied in two scopes.
CREATE TABLE push_receipts (
    outbox_event_id TEXT PRIMARY KEY NOT NULL,
    scope_key       TEXT NOT NULL REFERENCES scopes (scope_key) ON DELETE CASCADE,
    seq             BIGINT NOT NULL
);

-- Only a hash of each token is stored: a leaked table opens no account.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);
