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

export const migrations = Migrator.fromRecord({ "1_line_store": v1 })

/** Creates or upgrades the schema; returns the migrations applied now. */
export const migrate = Migrator.make({})({ loader: migrations })
