-- Schema of latch's PostgreSQL store (store/postgres), version 1.
--
-- Store.Migrate applies this file, and it can be applied as it is by any
-- migration tool: every statement is idempotent. The names here are the
-- defaults. For another table prefix or schema, generate the file with
-- postgres.SchemaSQL, which rewrites every name that starts with latch_.
-- Needs PostgreSQL 11 or later, for hashtextextended; tested with 15.
--
-- Times are judged against the caller's clock, passed to each function as
-- p_now, never against now(), so that every instance and every test clock
-- agree with the in-memory store. Rows whose expires_at has passed are
-- dead; Store.DeleteExpired removes them in bounded batches.

-- One issued code per key: the MAC of the code, never the code itself.
CREATE TABLE IF NOT EXISTS latch_challenges (
    key           text        PRIMARY KEY,
    id            text        NOT NULL,
    mac           bytea       NOT NULL,
    expires_at    timestamptz NOT NULL,
    resend_at     timestamptz NOT NULL,
    attempts_left integer     NOT NULL
);
CREATE INDEX IF NOT EXISTS latch_challenges_expires_at_idx ON latch_challenges (expires_at);

-- Fixed-window rate-limit counters. The key names the window, so a row
-- counts one window only and expires at its end.
CREATE TABLE IF NOT EXISTS latch_counters (
    key        text        PRIMARY KEY,
    count      bigint      NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS latch_counters_expires_at_idx ON latch_counters (expires_at);

-- scs sessions, by the token that scs stores (a SHA-256 when latch makes
-- the session manager).
CREATE TABLE IF NOT EXISTS latch_sessions (
    token      text        PRIMARY KEY,
    data       bytea       NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS latch_sessions_expires_at_idx ON latch_sessions (expires_at);

-- latch_lock takes the transaction-scoped advisory locks of a challenge
-- key and of counter keys. Reserve and Release hold them until commit, so
-- their read-check-write steps do not interleave even for keys that have
-- no row yet. Every caller takes its locks in ascending order of lock ID,
-- so two callers never wait for each other in a cycle.
CREATE OR REPLACE FUNCTION latch_lock(p_key text, p_counter_keys text[])
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    lock_id bigint;
BEGIN
    FOREACH lock_id IN ARRAY ARRAY(
        SELECT DISTINCT id FROM (
            SELECT hashtextextended('latch_challenges:' || p_key, 0) AS id
            UNION ALL
            SELECT hashtextextended('latch_counters:' || k, 0) FROM unnest(p_counter_keys) AS k
        ) AS ids
        ORDER BY id
    ) LOOP
        PERFORM pg_advisory_xact_lock(lock_id);
    END LOOP;
END
$$;

-- latch_reserve implements store.Store.Reserve. The counters arrive as
-- parallel arrays in the caller's order. o_refused is 0 when stored, 1
-- for a burnt challenge, 2 for the cooldown and 3 for a full counter,
-- whose position (from 1) is in o_limit_index.
CREATE OR REPLACE FUNCTION latch_reserve(
    p_key text, p_id text, p_mac bytea, p_expires_at timestamptz,
    p_resend_at timestamptz, p_attempts integer,
    p_counter_keys text[], p_counter_max bigint[], p_counter_expires_at timestamptz[],
    p_now timestamptz,
    OUT o_refused integer, OUT o_limit_index integer,
    OUT o_retry_at timestamptz, OUT o_attempts_left integer)
LANGUAGE plpgsql AS $$
DECLARE
    prev latch_challenges%ROWTYPE;
    current_count bigint;
BEGIN
    o_refused := 0;
    o_attempts_left := p_attempts;
    PERFORM latch_lock(p_key, p_counter_keys);

    -- Each statement of a function sees the rows committed before it
    -- started, so these reads see every earlier holder's writes.
    SELECT * INTO prev FROM latch_challenges WHERE key = p_key FOR UPDATE;
    IF FOUND AND p_now < prev.expires_at THEN
        IF prev.attempts_left <= 0 THEN
            o_refused := 1;
            o_retry_at := prev.expires_at;
            RETURN;
        END IF;
        IF p_now < prev.resend_at THEN
            o_refused := 2;
            o_retry_at := prev.resend_at;
            RETURN;
        END IF;
        o_attempts_left := least(p_attempts, prev.attempts_left);
    END IF;

    FOR i IN 1 .. coalesce(array_length(p_counter_keys, 1), 0) LOOP
        SELECT c.count INTO current_count FROM latch_counters AS c
        WHERE c.key = p_counter_keys[i] AND p_now < c.expires_at;
        IF coalesce(current_count, 0) >= p_counter_max[i] THEN
            o_refused := 3;
            o_limit_index := i;
            RETURN;
        END IF;
    END LOOP;

    INSERT INTO latch_counters AS c (key, count, expires_at)
    SELECT k, 1, e FROM unnest(p_counter_keys, p_counter_expires_at) AS u (k, e)
    ON CONFLICT (key) DO UPDATE
    SET count = CASE WHEN c.expires_at <= p_now THEN 1 ELSE c.count + 1 END,
        expires_at = excluded.expires_at;

    INSERT INTO latch_challenges AS c (key, id, mac, expires_at, resend_at, attempts_left)
    VALUES (p_key, p_id, p_mac, p_expires_at, p_resend_at, o_attempts_left)
    ON CONFLICT (key) DO UPDATE
    SET id = excluded.id, mac = excluded.mac, expires_at = excluded.expires_at,
        resend_at = excluded.resend_at, attempts_left = excluded.attempts_left;
END
$$;

-- latch_release implements store.Store.Release. p_counter_keys lists the
-- counters to refund.
CREATE OR REPLACE FUNCTION latch_release(
    p_key text, p_id text, p_counter_keys text[], p_now timestamptz)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM latch_lock(p_key, p_counter_keys);
    UPDATE latch_challenges AS c SET resend_at = p_now
    WHERE c.key = p_key AND c.id = p_id AND p_now < c.resend_at;
    UPDATE latch_counters AS c SET count = c.count - 1
    WHERE c.key = ANY (p_counter_keys) AND c.count > 0 AND p_now < c.expires_at;
END
$$;

-- latch_verify implements store.Store.Verify. o_outcome is 0 for not
-- found, 1 for a match, 2 for a mismatch and 3 for a burnt challenge. The
-- row lock alone orders it against Reserve and other Verify calls.
--
-- bytea equality is not constant-time. The timing could reveal at most
-- how much of the stored MAC matches the MAC of a guessed code. Both are
-- HMACs under a key that the guesser lacks, so the timing reveals nothing
-- about the code.
CREATE OR REPLACE FUNCTION latch_verify(
    p_key text, p_mac bytea, p_now timestamptz,
    OUT o_outcome integer, OUT o_attempts_left integer, OUT o_expires_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    cur latch_challenges%ROWTYPE;
BEGIN
    o_outcome := 0;
    o_attempts_left := 0;
    SELECT * INTO cur FROM latch_challenges WHERE key = p_key FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF cur.expires_at <= p_now THEN
        DELETE FROM latch_challenges AS c WHERE c.key = p_key;
        RETURN;
    END IF;
    IF cur.attempts_left <= 0 THEN
        o_outcome := 3;
        o_expires_at := cur.expires_at;
        RETURN;
    END IF;
    IF cur.mac = p_mac THEN
        DELETE FROM latch_challenges AS c WHERE c.key = p_key;
        o_outcome := 1;
        RETURN;
    END IF;
    UPDATE latch_challenges AS c SET attempts_left = c.attempts_left - 1
    WHERE c.key = p_key
    RETURNING c.attempts_left INTO o_attempts_left;
    o_outcome := 2;
    o_expires_at := cur.expires_at;
END
$$;
