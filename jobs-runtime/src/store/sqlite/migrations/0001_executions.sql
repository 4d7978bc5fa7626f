-- The first schema: executions with their attempts, schedule rows, each
-- job's last completion, and the store's own counters. Times are integer
-- milliseconds since the Unix epoch, UTC.

CREATE TABLE jobs_executions (
    id                 INTEGER PRIMARY KEY,
    job                TEXT    NOT NULL,
    fire_at            INTEGER NOT NULL,
    cause              TEXT    NOT NULL,
    state              TEXT    NOT NULL,
    instance           TEXT    NOT NULL,
    attempt            INTEGER NOT NULL,
    attempt_started_at INTEGER,
    started_at         INTEGER,
    finished_at        INTEGER
);
CREATE INDEX jobs_executions_job ON jobs_executions (job, id);
CREATE INDEX jobs_executions_fire_at ON jobs_executions (fire_at);
CREATE INDEX jobs_executions_unfinished ON jobs_executions (state)
    WHERE state IN ('pending', 'running', 'retrying');

CREATE TABLE jobs_attempts (
    execution_id INTEGER NOT NULL,
    number       INTEGER NOT NULL,
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER NOT NULL,
    outcome      TEXT    NOT NULL,
    message      TEXT,
    location     TEXT,
    limit_ms     INTEGER,
    PRIMARY KEY (execution_id, number)
) WITHOUT ROWID;

CREATE TABLE jobs_attempt_causes (
    execution_id INTEGER NOT NULL,
    number       INTEGER NOT NULL,
    position     INTEGER NOT NULL,
    message      TEXT    NOT NULL,
    PRIMARY KEY (execution_id, number, position)
) WITHOUT ROWID;

CREATE TABLE jobs_schedules (
    job               TEXT    PRIMARY KEY,
    anchor            INTEGER NOT NULL,
    last_fire         INTEGER,
    last_success      INTEGER,
    paused            INTEGER NOT NULL,
    schedule_override TEXT
);

CREATE TABLE jobs_completions (
    job         TEXT    PRIMARY KEY,
    finished_at INTEGER NOT NULL
);

CREATE TABLE jobs_meta (
    key   TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
);
