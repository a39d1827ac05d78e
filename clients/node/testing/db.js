// Test support: a pool on DATABASE_URL (a database migrated to the worker's schema), rows
// for datasets and strategies, and a fake worker written in the plain SQL the contract
// allows. Lives outside test/ so that `node --test` does not run it as a test file.

import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';

export const DATABASE_URL = process.env.DATABASE_URL;

/** `skip` option for test suites: a reason when there is no database to test against. */
export const skipWithoutDatabase = DATABASE_URL
  ? false
  : 'DATABASE_URL is not set (a PostgreSQL database migrated with `backtest-worker migrate`)';

export function createPool(options = {}) {
  return new pg.Pool({ connectionString: DATABASE_URL, max: 5, ...options });
}

export async function createClient() {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  return client;
}

export async function createDataset(pool) {
  const hash = randomBytes(32).toString('hex');
  const { rows } = await pool.query(
    `INSERT INTO datasets (name, symbols, timeframe, start_date, end_date, row_count, storage_uri, hash)
     VALUES ($1, ARRAY['AAPL','MSFT'], '1d', '2020-01-01Z', '2024-12-31Z', 2514, $2, $3)
     RETURNING id`,
    [`node-test-${hash.slice(0, 8)}`, `data/${hash}.parquet`, hash],
  );
  return rows[0].id;
}

export async function createStrategy(pool) {
  const { rows } = await pool.query(
    `INSERT INTO strategies (name, version, params) VALUES ($1, '1.0.0', $2::jsonb) RETURNING id`,
    [`sma-${randomUUID()}`, JSON.stringify({ kind: 'sma_crossover', fast_period: 10, slow_period: 50 })],
  );
  return rows[0].id;
}

/** A fresh dataset and strategy: the two ids every run needs. */
export async function fixtures(pool) {
  return { datasetId: await createDataset(pool), strategyId: await createStrategy(pool) };
}

// --- the fake worker ---------------------------------------------------------------------

export async function claim(pool, runId) {
  const { rowCount } = await pool.query(
    `UPDATE runs SET status = 'running', locked_by = 'test', attempts = attempts + 1,
            lease_expires_at = now() + interval '30 s', started_at = now()
     WHERE id = $1 AND status = 'pending'`,
    [runId],
  );
  if (rowCount !== 1) throw new Error(`could not claim run ${runId}`);
}

export async function progress(pool, runId, stage, pct) {
  const payload = JSON.stringify({ run_id: runId, stage, pct });
  await pool.query(
    `WITH updated AS (UPDATE runs SET progress = $2::text::jsonb WHERE id = $1 AND status = 'running' RETURNING id)
     SELECT pg_notify('run_progress', $2::text) FROM updated`,
    [runId, payload],
  );
}

/** Send a progress NOTIFY without touching the row (for runs of other clients, say). */
export async function notifyProgress(pool, runId, stage, pct) {
  await pool.query(`SELECT pg_notify('run_progress', $1)`, [JSON.stringify({ run_id: runId, stage, pct })]);
}

export const SAMPLE_METRICS = Object.freeze({
  final_value: 11842.0,
  total_return: 0.1842,
  cagr: 0.0871,
  sharpe_ratio: 1.2311,
  sortino_ratio: null,
  max_drawdown: -0.0912,
  total_trades: 14,
  winning_trades: 9,
  losing_trades: 5,
  win_rate: 9 / 14,
  profit_factor: 1.87,
});

export function sampleArtifacts(runId) {
  return [
    {
      kind: 'report', filename: 'report.html', storage_path: `artifacts/${runId}/report.html`,
      mime_type: 'text/html', size_bytes: 12345, sha256: 'a'.repeat(64),
    },
    {
      kind: 'csv', filename: 'trades.csv', storage_path: `artifacts/${runId}/trades.csv`,
      mime_type: 'text/csv', size_bytes: 678, sha256: 'b'.repeat(64),
    },
  ];
}

/** Finish a running run as succeeded, with its artifacts, in one transaction. */
export async function succeed(pool, runId, { metrics = SAMPLE_METRICS, artifacts = sampleArtifacts(runId) } = {}) {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    for (const a of artifacts) {
      await client.query(
        `INSERT INTO artifacts (run_id, kind, filename, storage_path, mime_type, size_bytes, sha256)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [runId, a.kind, a.filename, a.storage_path, a.mime_type, a.size_bytes, a.sha256],
      );
    }
    await client.query(
      `UPDATE runs SET status = 'succeeded', final_value = $2, total_return = $3, sharpe_ratio = $4,
              max_drawdown = $5, win_rate = $6, total_trades = $7, winning_trades = $8,
              losing_trades = $9, metrics = $10::jsonb, progress = '{"stage": "done", "pct": 100}'
       WHERE id = $1 AND status = 'running'`,
      [
        runId, metrics.final_value, metrics.total_return, metrics.sharpe_ratio, metrics.max_drawdown,
        metrics.win_rate, metrics.total_trades, metrics.winning_trades, metrics.losing_trades,
        JSON.stringify(metrics),
      ],
    );
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

export async function failRun(pool, runId, error) {
  await pool.query(`UPDATE runs SET status = 'failed', error = $2::jsonb WHERE id = $1`, [
    runId,
    JSON.stringify(error),
  ]);
}

/** What a worker does after `run_cancel`: stop and record the run as cancelled. */
export async function acknowledgeCancel(pool, runId) {
  await pool.query(`UPDATE runs SET status = 'cancelled' WHERE id = $1 AND status = 'running'`, [runId]);
}

/**
 * Resolve once a `waitForRun` is listening: send progress NOTIFYs for `runId` every few ms
 * until `heard()` says its onProgress saw one.
 */
export async function untilListening(pool, runId, heard, { timeoutMs = 5000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  while (!heard()) {
    if (Date.now() > deadline) throw new Error(`waitForRun for ${runId} never started listening`);
    await notifyProgress(pool, runId, 'sync', 0);
    await sleep(20);
  }
}
