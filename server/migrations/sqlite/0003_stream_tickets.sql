-- Single-use tickets that open an event stream: EventSource cannot send headers, and a
-- session token in the URL lands in logs and histories. A ticket lives seconds, is
-- stored as a hash, works once, and dies with its session.
CREATE TABLE stream_tickets (
    ticket_hash  TEXT PRIMARY KEY NOT NULL,
    session_hash TEXT NOT NULL REFERENCES sessions (token_hash) ON DELETE CASCADE,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX stream_tickets_expires_at ON stream_tickets (expires_at);
