-- Who a board is shared with, besides its owner. Membership is the server's alone: it
-- never travels through push or pull (a prisma-idb client knows only User, Board and
-- Todo); the records of a shared board reach its members through their changelogs.
-- A membership goes with its board or its account.
CREATE TABLE board_members (
    board_id   TEXT NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (board_id, user_id)
);
-- A member's boards (pull visibility, "shared with me").
CREATE INDEX board_members_user_id ON board_members (user_id);
