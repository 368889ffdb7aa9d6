/**
 * The shared store's schema, created and upgraded by @effect/sql's Migrator
 * (table `effect_sql_migrations`; the Migrator takes an exclusive lock on it,
 * so stations starting together migrate once). A new schema change is a new
 * numbered entry here; entries never change once released.
 */
import * as Migrator from "@effect/sql/Migrator"
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

const v1 = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.all(
    [
      // One row per station id; `instance` is the process that holds it now.
      sql`CREATE TABLE stations (
      station_id    text PRIMARY KEY,
      host          text NOT NULL,
      pid           integer NOT NULL,
      instance      text NOT NULL,
      ports         jsonb NOT NULL DEFAULT '[]'::jsonb,
      current_batch text,
      started_at    timestamptz NOT NULL DEFAULT now(),
      last_seen     timestamptz NOT NULL DEFAULT now(),
      stopped_at    timestamptz
    )`,
      // A batch as one station ran it (two stations may share a batch id).
      sql`CREATE TABLE batches (
      batch_id    text NOT NULL,
      station_id  text NOT NULL,
      config_file text NOT NULL,
      requested   integer NOT NULL,
      started_at  timestamptz NOT NULL,
      finished_at timestamptz,
      report      jsonb,
      PRIMARY KEY (batch_id, station_id)
    )`,
      // A board attempt from its start: `running` until its record commits (then `done`);
      // a station that died leaves it `running` → shown as interrupted.
      sql`CREATE TABLE board_attempts (
      attempt_key text PRIMARY KEY,
      batch_id    text NOT NULL,
      station_id  text NOT NULL,
      port        text NOT NULL,
      state       text NOT NULL CHECK (state IN ('running', 'done', 'interrupted')),
      started_at  timestamptz NOT NULL,
      ended_at    timestamptz
    )`,
      sql`CREATE INDEX board_attempts_station ON board_attempts (station_id, state)`,
      // Everything the CSV row holds (csv_row is that exact line), plus attempts,
      // retries and step timings; `result` is the station's whole board result.
      sql`CREATE TABLE board_records (
      attempt_key      text PRIMARY KEY,
      batch_id         text NOT NULL,
      station_id       text NOT NULL,
      port             text NOT NULL,
      device_id        text,
      mac              text,
      board            text NOT NULL,
      platform         text NOT NULL,
      chip             text,
      firmware_version text NOT NULL,
      status           text NOT NULL,
      error_code       text,
      failure_step     text,
      registration     text,
      flash_s          double precision,
      total_s          double precision NOT NULL,
      attempts         integer NOT NULL,
      retries          integer NOT NULL,
      steps            jsonb NOT NULL DEFAULT '[]'::jsonb,
      day              text NOT NULL,
      started_at       timestamptz NOT NULL,
      finished_at      timestamptz NOT NULL,
      csv_row          text NOT NULL,
      result           jsonb NOT NULL,
      recorded_at      timestamptz NOT NULL DEFAULT now()
    )`,
      sql`CREATE INDEX board_records_batch ON board_records (batch_id, finished_at)`,
      sql`CREATE INDEX board_records_day ON board_records (day, station_id)`,
      sql`CREATE INDEX board_records_device ON board_records (device_id)`,
      sql`CREATE INDEX board_records_mac ON board_records (lower(mac))`,
      sql`CREATE INDEX board_records_finished ON board_records (finished_at)`,
      // Registrations the backend has not confirmed yet; payload holds the device
      // secret and token (they must reach the backend), so it is never selected for display.
      sql`CREATE TABLE registration_outbox (
      device_id    text PRIMARY KEY,
      batch_id     text NOT NULL,
      station_id   text NOT NULL,
      payload      text NOT NULL,
      enqueued_at  timestamptz NOT NULL DEFAULT now(),
      tries        integer NOT NULL DEFAULT 0,
      last_error   text,
      delivered_at timestamptz,
      delivered_by text,
      created      boolean
    )`,
      sql`CREATE INDEX registration_outbox_pending ON registration_outbox (enqueued_at) WHERE delivered_at IS NULL`,
      sql`CREATE TABLE run_events (
      id         bigserial PRIMARY KEY,
      at         timestamptz NOT NULL DEFAULT now(),
      station_id text,
      batch_id   text,
      kind       text NOT NULL,
      detail     jsonb NOT NULL DEFAULT '{}'::jsonb
    )`
    ],
    { discard: true }
  )
)

/**
 * A board's record as one server-side function call: the record (a replay of
 * the same attempt is a no-op), its attempt marked done, and a run event only
 * when the record is new — one round trip, one implicit transaction. PL/pgSQL
 * keeps the plans of its statements for the session, so a station's pool
 * connections parse and plan the inserts once instead of once per board
 * (node-postgres sends every query unprepared).
 */
const v2 = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql`CREATE FUNCTION provision_record(rec jsonb, detail jsonb) RETURNS boolean LANGUAGE plpgsql AS $fn$
    DECLARE
      inserted boolean;
    BEGIN
      INSERT INTO board_records (attempt_key, batch_id, station_id, port, device_id, mac, board, platform, chip, firmware_version,
        status, error_code, failure_step, registration, flash_s, total_s, attempts, retries, steps, day, started_at, finished_at, csv_row, result)
      SELECT r.attempt_key, r.batch_id, r.station_id, r.port, r.device_id, r.mac, r.board, r.platform, r.chip, r.firmware_version,
        r.status, r.error_code, r.failure_step, r.registration, r.flash_s, r.total_s, r.attempts, r.retries, r.steps, r.day,
        r.started_at, r.finished_at, r.csv_row, r.result
      FROM jsonb_populate_record(NULL::board_records, rec) AS r
      ON CONFLICT (attempt_key) DO NOTHING;
      inserted := FOUND;
      INSERT INTO board_attempts (attempt_key, batch_id, station_id, port, state, started_at, ended_at)
      VALUES (rec->>'attempt_key', rec->>'batch_id', rec->>'station_id', rec->>'port', 'done',
        (rec->>'started_at')::timestamptz, (rec->>'finished_at')::timestamptz)
      ON CONFLICT (attempt_key) DO UPDATE SET state = 'done', ended_at = EXCLUDED.ended_at;
      IF inserted THEN
        INSERT INTO run_events (station_id, batch_id, kind, detail) VALUES (rec->>'station_id', rec->>'batch_id', 'board_finished', detail);
      END IF;
      RETURN inserted;
    END
  $fn$`
)

/** Several boards' records in one call and one transaction (a station process's group commit); returns the attempt keys that were new. */
const v3 = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql`CREATE FUNCTION provision_records(items jsonb) RETURNS SETOF text LANGUAGE plpgsql AS $fn$
    DECLARE
      item jsonb;
    BEGIN
      FOR item IN SELECT value FROM jsonb_array_elements(items) LOOP
        IF provision_record(item->'rec', item->'detail') THEN
          RETURN NEXT item->'rec'->>'attempt_key';
        END IF;
      END LOOP;
    END
  $fn$`
)

/**
 * A station's claim as one call (one round trip instead of eight: a station
 * starting against a server across a building, or one of eight starting on a
 * busy machine, waits for each). Takes the row (created if new) under a row
 * lock; when another live process holds the id, answers with that holder and
 * changes nothing. `dead_pid`: a process on this host the caller found dead,
 * whose fresh heartbeat does not count. Otherwise the row is this process's,
 * the boards the previous holder left running are marked interrupted, a run
 * event is written and the dashboard is notified.
 */
const v4 = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql`CREATE FUNCTION provision_claim_station(p_station text, p_host text, p_pid integer, p_instance text, p_ports jsonb,
        p_stale_ms float8, p_dead_pid integer, p_channel text)
      RETURNS TABLE (taken boolean, holder_host text, holder_pid integer, age_ms float8, interrupted integer) LANGUAGE plpgsql AS $fn$
    DECLARE
      other record;
      n integer;
    BEGIN
      INSERT INTO stations (station_id, host, pid, instance, ports) VALUES (p_station, p_host, p_pid, p_instance, '[]'::jsonb)
      ON CONFLICT (station_id) DO NOTHING;
      SELECT s.host, s.pid, s.instance, (extract(epoch FROM now() - s.last_seen) * 1000)::float8 AS age, s.stopped_at IS NOT NULL AS stopped
      INTO other FROM stations s WHERE s.station_id = p_station FOR UPDATE;
      IF other.instance <> p_instance AND NOT other.stopped AND other.age < p_stale_ms
         AND NOT (other.host = p_host AND other.pid IS NOT DISTINCT FROM p_dead_pid) THEN
        RETURN QUERY SELECT true, other.host, other.pid, other.age, 0;
        RETURN;
      END IF;
      UPDATE stations SET host = p_host, pid = p_pid, instance = p_instance, ports = p_ports, current_batch = NULL,
        started_at = now(), last_seen = now(), stopped_at = NULL
      WHERE station_id = p_station;
      UPDATE board_attempts SET state = 'interrupted', ended_at = now() WHERE station_id = p_station AND state = 'running';
      GET DIAGNOSTICS n = ROW_COUNT;
      INSERT INTO run_events (station_id, kind, detail)
      VALUES (p_station, 'station_started', jsonb_build_object('host', p_host, 'pid', p_pid, 'interrupted', n));
      PERFORM pg_notify(p_channel, jsonb_build_object('kind', 'station', 'station_id', p_station)::text);
      RETURN QUERY SELECT false, p_host, p_pid, 0::float8, n;
    END
  $fn$`
)

/** Every schema step by `<id>_<name>`, in order. */
export const migrationSteps = {
  "1_line_store": v1,
  "2_record_function": v2,
  "3_records_function": v3,
  "4_claim_function": v4
}
export const migrations = Migrator.fromRecord(migrationSteps)
/** The newest migration this build knows (the number before the name). */
export const latestMigration = Math.max(...Object.keys(migrationSteps).map((key) => Number.parseInt(key, 10)))

/** Creates or upgrades the schema; returns the migrations applied now. */
export const runMigrations = Migrator.make({})({ loader: migrations })

/**
 * The schema is current: nothing to do. Every station checks at start, and
 * once the line runs the schema is almost always current, so a station reads
 * the newest applied id first (one statement, no lock) and runs the Migrator
 * (DDL and an exclusive lock on its table, which would queue stations that
 * start together) only when the database is behind or new.
 */
export const migrate = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql<{ latest: number | null }>`SELECT max(migration_id)::int AS latest FROM effect_sql_migrations`.pipe(
    Effect.map((rows) => rows[0]?.latest ?? 0),
    // No migrations table yet (a new database): the Migrator creates it.
    Effect.orElseSucceed(() => 0),
    Effect.flatMap((applied) => (applied >= latestMigration ? Effect.succeed([] as const) : runMigrations))
  )
)
