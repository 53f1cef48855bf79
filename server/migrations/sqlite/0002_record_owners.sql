-- The account each board or todo id belongs to, kept after the record is deleted: once
-- an id has been one account's, no other account can take it (a delete followed by
-- another user's create of the same id would otherwise lock the owner out of undoing
-- the delete). Written when a push first creates the id.
CREATE TABLE record_owners (
    id        TEXT PRIMARY KEY NOT NULL,
    scope_key TEXT NOT NULL REFERENCES scopes (scope_key) ON DELETE CASCADE
);

-- Existing records, then ids that only the changelog still remembers (deleted ones);
-- the first account to log an id keeps it.
INSERT INTO record_owners (id, scope_key)
SELECT id, user_id FROM boards WHERE true ON CONFLICT (id) DO NOTHING;
INSERT INTO record_owners (id, scope_key)
SELECT t.id, b.user_id FROM todos t JOIN boards b ON b.id = t.board_id
WHERE true ON CONFLICT (id) DO NOTHING;
INSERT INTO record_owners (id, scope_key)
SELECT json_extract(key_path, '$[0]'), scope_key FROM changelog
WHERE model IN ('Board', 'Todo') ORDER BY created_at, seq
ON CONFLICT (id) DO NOTHING;
