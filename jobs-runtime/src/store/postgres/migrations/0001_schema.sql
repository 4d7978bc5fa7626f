-- The first schema: executions with their attempts, schedule rows, each
-- job's last completion and totals, the instances that share the store,
-- and the sequences of execution id blocks and lease tokens. Times are
-- milliseconds since the Unix epoch, UTC (bigint), as in the SQLite store;
-- instances' heartbeats are the database's own time.

CREATE TABLE jobs_executions (
    id                 bigint  PRIMARY KEY,
    job                text    NOT NULL,
    fire_at            bigint  NOT NULL,
    cause              text    NOT NULL,
    state              text    NOT NULL,
    instance           text    NOT NULL,
    attempt            integer NOT NULL,
    attempt_started_at bigint,
    started_at         bigint,
    finished_at        bigint,
    lease_token        bigint,
    -- A newer execution of its job, claimed on another instance under the
    -- overlap policy `replace`, replaces it: its instance cancels it.
    replaced           boolean NOT NULL DEFAULT false
);
-- One execution per scheduled fire: the claim of a fire is an insert that
-- this index lets through once.
CREATE UNIQUE INDEX jobs_executions_fire ON jobs_executions (job, fire_at)
    WHERE cause = 'schedule';
CREATE INDEX jobs_executions_job ON jobs_executions (job, id);
CREATE INDEX jobs_executions_fire_at ON jobs_executions (fire_at);
-- The unfinished executions, which rescues look for and a claim with a
-- limit counts, by job.
CREATE INDEX jobs_executions_unfinished ON jobs_executions (job)
    WHERE state IN ('pending', 'running', 'retrying');

CREATE TABLE jobs_attempts (
    execution_id bigint  NOT NULL,
    number       integer NOT NULL,
    started_at   bigint  NOT NULL,
    finished_at  bigint  NOT NULL,
    outcome      text    NOT NULL,
    message      text,
    location     text,
    limit_ms     bigint,
    PRIMARY KEY (execution_id, number)
);

CREATE TABLE jobs_attempt_causes (
    execution_id bigint  NOT NULL,
    number       integer NOT NULL,
    position     integer NOT NULL,
    message      text    NOT NULL,
    PRIMARY KEY (execution_id, number, position)
);

CREATE TABLE jobs_schedules (
    job               text    PRIMARY KEY,
    anchor            bigint  NOT NULL,
    last_fire         bigint,
    last_success      bigint,
    paused            boolean NOT NULL,
    schedule_override text
);

CREATE TABLE jobs_completions (
    job         text   PRIMARY KEY,
    finished_at bigint NOT NULL
);

CREATE TABLE jobs_totals (
    job              text   PRIMARY KEY,
    executions       bigint NOT NULL,
    failures         bigint NOT NULL,
    last_started_at  bigint,
    last_finished_at bigint,
    last_error       text
);

CREATE TABLE jobs_instances (
    id           text        PRIMARY KEY,
    host         text        NOT NULL,
    pid          bigint      NOT NULL,
    version      text        NOT NULL,
    started_at   timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL,
    -- The slots it offers (NULL: unlimited), and how far its wall clock was
    -- ahead of the database's at its latest heartbeat, in milliseconds.
    slots           integer,
    clock_offset_ms bigint
);

-- Each store handle takes a block of 2^32 execution ids: block b holds the
-- ids from b * 2^32 + 1.
CREATE SEQUENCE jobs_id_blocks START WITH 1;
CREATE SEQUENCE jobs_lease_tokens START WITH 1;
