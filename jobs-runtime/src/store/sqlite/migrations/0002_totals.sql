-- What each job's executions add up to, kept as they end and whatever is
-- pruned: ended executions, those that did not succeed, the latest start
-- and end, and the latest error that ended an execution.

CREATE TABLE jobs_totals (
    job              TEXT    PRIMARY KEY,
    executions       INTEGER NOT NULL,
    failures         INTEGER NOT NULL,
    last_started_at  INTEGER,
    last_finished_at INTEGER,
    last_error       TEXT
);
