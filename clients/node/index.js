// @aitradepro/backtest-client: the Node.js side of the database contract with the Python
// backtesting worker (docs/contract.md). Enqueue runs, wait for them over LISTEN/NOTIFY,
// cancel them, read them back. Plain SQL over `pg`; no build step.
//
// Numbers (one rule, see README.md):
// - `run.row` is the row exactly as `pg` returns it: every Numeric column is a string.
// - Money (`Numeric(18,4)`: initial_capital, final_value) stays a string everywhere
//   (`initialCapital`, `metrics.finalValue`): 18 significant digits do not fit a double.
// - Ratios and returns (`Numeric(10,4)`) become JS numbers in `metrics`: 10 significant
//   digits round-trip through a double exactly. Trade counts are integers.
// - `metrics.all` is the `metrics` JSONB as stored (already JSON numbers, full precision).

import { createRequire } from 'node:module';
import pg from 'pg';

// The worker's input bounds (worker/bounds.py), exported by `python -m worker.schemas.export`.
const LIMITS = createRequire(import.meta.url)('./limits.json');

// --- constants ---------------------------------------------------------------------------

// Generated from the worker's Python (worker/api/node_constants.py): channel names, the ENUMs'
// values, the columns' bounds.
import {
  ARTIFACT_KINDS, CHANNELS, RUN_LIMITS, RUN_MODES, RUN_STATUS, TERMINAL_STATUSES,
} from './constants.js';

export { ARTIFACT_KINDS, CHANNELS, RUN_LIMITS, RUN_MODES, RUN_STATUS, TERMINAL_STATUSES };

/** True if `status` is one a run never leaves. */
export function isTerminalStatus(status) {
  return TERMINAL_STATUSES.includes(status);
}

// --- errors ------------------------------------------------------------------------------

/** Base class of every error this package throws itself. */
export class BacktestClientError extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = 'BacktestClientError';
  }
}

/** An argument was refused before any SQL was sent. `field` names the argument. */
export class ValidationError extends BacktestClientError {
  constructor(field, message) {
    super(`${field}: ${message}`);
    this.name = 'ValidationError';
    this.field = field;
  }
}

/** No run (or referenced dataset/strategy) has that id. */
export class NotFoundError extends BacktestClientError {
  constructor(message, { entity, id }) {
    super(message);
    this.name = 'NotFoundError';
    this.entity = entity;
    this.id = id;
  }
}

/** No run has that id. */
export class RunNotFoundError extends NotFoundError {
  constructor(runId) {
    super(`run ${runId} does not exist`, { entity: 'run', id: runId });
    this.name = 'RunNotFoundError';
    this.runId = runId;
  }
}

/** `waitForRun` gave up after `timeoutMs`; the run itself is not affected. */
export class RunTimeoutError extends BacktestClientError {
  constructor(runId, timeoutMs, lastStatus) {
    const seen = lastStatus ? ` (last seen ${lastStatus})` : '';
    super(`timed out after ${timeoutMs} ms waiting for run ${runId} to finish${seen}`);
    this.name = 'TimeoutError';
    this.code = 'ETIMEDOUT';
    this.runId = runId;
    this.timeoutMs = timeoutMs;
    this.lastStatus = lastStatus ?? null;
  }
}

/** The listening connection failed or closed while `waitForRun` was waiting. */
export class ConnectionLostError extends BacktestClientError {
  constructor(runId, cause) {
    const why = cause?.message ? `: ${cause.message}` : '';
    super(`lost the database connection while waiting for run ${runId}${why}`, { cause });
    this.name = 'ConnectionLostError';
    this.runId = runId;
  }
}

// --- validation --------------------------------------------------------------------------

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DECIMAL_RE = /^\d+(\.\d+)?$/;
// Numeric(18,4): at most 14 digits before the point.
const MONEY_LIMIT = 1e14;

function describe(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.slice(0, 60))}`;
  if (typeof value === 'object') return `a ${value.constructor?.name ?? 'null-prototype'} object`;
  return `${typeof value} ${String(value)}`;
}

function checkUuid(field, value) {
  if (typeof value !== 'string' || !UUID_RE.test(value)) {
    throw new ValidationError(field, `must be a UUID string, got ${describe(value)}`);
  }
  return value.toLowerCase();
}

function checkQueryable(field, value) {
  if (value === null || typeof value !== 'object' || typeof value.query !== 'function') {
    throw new ValidationError(field, `must be a pg Pool or Client, got ${describe(value)}`);
  }
}

function isPlainObject(value) {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

// JSON.stringify turns NaN and Infinity into null and drops functions silently; the worker
// would then see a different config than the caller wrote. Refuse them instead, and refuse
// what the worker would refuse: nesting deeper than LIMITS.maxJsonDepth.
function checkJsonValue(field, value, path, seen, depth = 0) {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) {
        throw new ValidationError(field, `${path} is ${value}: JSON has no NaN or Infinity`);
      }
      return;
    case 'object': {
      if (value === null) return;
      if (seen.has(value)) throw new ValidationError(field, `${path} is a circular reference`);
      if (depth >= LIMITS.maxJsonDepth && !(value instanceof Date)) {
        throw new ValidationError(field, `is nested more than ${LIMITS.maxJsonDepth} levels deep (at ${path})`);
      }
      seen.add(value);
      if (Array.isArray(value)) {
        value.forEach((item, i) => checkJsonValue(field, item, `${path}[${i}]`, seen, depth + 1));
      } else if (value instanceof Date) {
        // JSON.stringify writes an ISO string: fine.
      } else if (isPlainObject(value)) {
        for (const [key, item] of Object.entries(value)) {
          if (item === undefined) continue; // left out, as JSON.stringify does
          checkJsonValue(field, item, `${path}.${key}`, seen, depth + 1);
        }
      } else {
        throw new ValidationError(field, `${path} is ${describe(value)}, not JSON data`);
      }
      seen.delete(value);
      return;
    }
    default:
      throw new ValidationError(field, `${path} is a ${typeof value}, not JSON data`);
  }
}

function checkCapital(value) {
  const field = 'initialCapital';
  let asNumber;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new ValidationError(field, `must be finite, got ${value}`);
    asNumber = value;
  } else if (typeof value === 'string') {
    if (!DECIMAL_RE.test(value)) {
      throw new ValidationError(field, `must be a positive decimal such as "10000.50", got ${describe(value)}`);
    }
    asNumber = Number(value);
  } else {
    throw new ValidationError(field, `must be a number or a decimal string, got ${describe(value)}`);
  }
  if (!(asNumber > 0)) throw new ValidationError(field, `must be positive, got ${value}`);
  if (asNumber >= MONEY_LIMIT) {
    throw new ValidationError(field, `must be below 1e14 (the column is Numeric(18,4)), got ${value}`);
  }
  return typeof value === 'string' ? value : String(value);
}

function checkInteger(field, value, min, max) {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ValidationError(field, `must be an integer from ${min} to ${max}, got ${describe(value)}`);
  }
  return value;
}

function checkTimestamp(field, value) {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new ValidationError(field, 'is an invalid Date');
    return value;
  }
  if (typeof value === 'string' && !Number.isNaN(Date.parse(value))) return new Date(value);
  throw new ValidationError(field, `must be a Date or an ISO 8601 string, got ${describe(value)}`);
}

function checkOptions(field, value) {
  if (value === undefined) return {};
  if (!isPlainObject(value)) throw new ValidationError(field, `must be an object, got ${describe(value)}`);
  return value;
}

// --- enqueue -----------------------------------------------------------------------------

/**
 * Insert a pending run and return its id. Every argument is checked before any SQL is sent.
 * Omitted optional columns take the database defaults (priority 0, run_after now(),
 * max_attempts 3, mode backtest).
 */
export async function enqueueRun(pool, options) {
  checkQueryable('pool', pool);
  if (!isPlainObject(options)) {
    throw new ValidationError('options', `must be an object with datasetId and strategyId, got ${describe(options)}`);
  }
  const {
    datasetId,
    strategyId,
    initialCapital = 10000,
    config = {},
    priority = 0,
    mode = 'backtest',
    runAfter,
    maxAttempts,
  } = options;
  const known = new Set([
    'datasetId', 'strategyId', 'initialCapital', 'config', 'priority', 'mode', 'runAfter', 'maxAttempts',
  ]);
  for (const key of Object.keys(options)) {
    if (!known.has(key)) {
      throw new ValidationError(key, `is not an option of enqueueRun (known: ${[...known].join(', ')})`);
    }
  }

  const columns = {
    dataset_id: checkUuid('datasetId', datasetId),
    strategy_id: checkUuid('strategyId', strategyId),
    initial_capital: checkCapital(initialCapital),
  };
  if (!isPlainObject(config)) {
    throw new ValidationError('config', `must be a plain object (JSON object), got ${describe(config)}`);
  }
  checkJsonValue('config', config, 'config', new Set());
  columns.config = JSON.stringify(config);
  const bytes = Buffer.byteLength(columns.config, 'utf8');
  if (bytes > LIMITS.maxJsonBytes) {
    throw new ValidationError('config', `is ${bytes} bytes of JSON, more than ${LIMITS.maxJsonBytes}`);
  }
  columns.priority = checkInteger('priority', priority, RUN_LIMITS.priority.min, RUN_LIMITS.priority.max);
  if (!RUN_MODES.includes(mode)) {
    throw new ValidationError('mode', `must be one of ${RUN_MODES.join(', ')}, got ${describe(mode)}`);
  }
  columns.mode = mode;
  if (runAfter !== undefined && runAfter !== null) columns.run_after = checkTimestamp('runAfter', runAfter);
  if (maxAttempts !== undefined && maxAttempts !== null) {
    columns.max_attempts = checkInteger(
      'maxAttempts', maxAttempts, RUN_LIMITS.maxAttempts.min, RUN_LIMITS.maxAttempts.max,
    );
  }

  // Column names come from the fixed keys above, never from the caller.
  const casts = { config: '::jsonb', mode: '::run_mode', initial_capital: '::numeric' };
  const names = Object.keys(columns);
  const placeholders = names.map((name, i) => `$${i + 1}${casts[name] ?? ''}`);
  const sql = `INSERT INTO runs (${names.join(', ')}) VALUES (${placeholders.join(', ')}) RETURNING id`;
  try {
    const result = await pool.query(sql, Object.values(columns));
    return result.rows[0].id;
  } catch (error) {
    throw translateInsertError(error, columns);
  }
}

function translateInsertError(error, columns) {
  if (error?.code === '23503') {
    if (error.constraint === 'fk_runs_dataset_id_datasets') {
      return new NotFoundError(`dataset ${columns.dataset_id} does not exist`, {
        entity: 'dataset', id: columns.dataset_id,
      });
    }
    if (error.constraint === 'fk_runs_strategy_id_strategies') {
      return new NotFoundError(`strategy ${columns.strategy_id} does not exist`, {
        entity: 'strategy', id: columns.strategy_id,
      });
    }
  }
  return error;
}

// --- read --------------------------------------------------------------------------------

const RUN_SQL = 'SELECT * FROM runs WHERE id = $1';
const ARTIFACTS_SQL = `SELECT kind, filename, storage_path, mime_type, size_bytes, sha256, created_at
  FROM artifacts WHERE run_id = $1 ORDER BY created_at, filename`;

function toNumber(value) {
  return value === null || value === undefined ? null : Number(value);
}

function toMetrics(row) {
  const columns = [
    row.final_value, row.total_return, row.sharpe_ratio, row.max_drawdown, row.win_rate,
    row.total_trades, row.winning_trades, row.losing_trades, row.metrics,
  ];
  if (columns.every((value) => value === null || value === undefined)) return null;
  return {
    finalValue: row.final_value ?? null,
    totalReturn: toNumber(row.total_return),
    sharpeRatio: toNumber(row.sharpe_ratio),
    maxDrawdown: toNumber(row.max_drawdown),
    winRate: toNumber(row.win_rate),
    totalTrades: row.total_trades ?? null,
    winningTrades: row.winning_trades ?? null,
    losingTrades: row.losing_trades ?? null,
    all: row.metrics ?? null,
  };
}

function toArtifact(row) {
  return {
    kind: row.kind,
    filename: row.filename,
    storagePath: row.storage_path,
    mimeType: row.mime_type,
    sizeBytes: Number(row.size_bytes), // bigint arrives as a string; sizes fit a double
    sha256: row.sha256,
    createdAt: row.created_at,
  };
}

/** Shape a `runs` row and its artifact rows into the object `getRun`/`waitForRun` return. */
export function toRun(row, artifactRows = []) {
  return {
    id: row.id,
    status: row.status,
    mode: row.mode,
    datasetId: row.dataset_id,
    strategyId: row.strategy_id,
    initialCapital: row.initial_capital,
    config: row.config,
    priority: row.priority,
    error: row.error ?? null,
    metrics: toMetrics(row),
    progress: row.progress ?? null,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    cancelRequested: row.cancel_requested,
    lockedBy: row.locked_by ?? null,
    runAfter: row.run_after,
    createdAt: row.created_at,
    startedAt: row.started_at ?? null,
    finishedAt: row.finished_at ?? null,
    metadata: row.metadata ?? null,
    artifacts: artifactRows.map(toArtifact),
    row,
  };
}

/**
 * Read one run with its artifacts; `null` if no run has that id. `db` is a Pool or a Client.
 */
export async function getRun(db, runId) {
  checkQueryable('db', db);
  const id = checkUuid('runId', runId);
  const runs = await db.query(RUN_SQL, [id]);
  if (runs.rows.length === 0) return null;
  const artifacts = await db.query(ARTIFACTS_SQL, [id]);
  return toRun(runs.rows[0], artifacts.rows);
}

// --- cancel ------------------------------------------------------------------------------

/**
 * Ask for a run to be cancelled. A pending run is `cancelled` when this returns (the database
 * trigger does it in the same statement); a running run is stopped by its worker within a few
 * seconds (wait with `waitForRun`); a finished run keeps its status.
 */
export async function cancelRun(pool, runId) {
  checkQueryable('pool', pool);
  const id = checkUuid('runId', runId);
  const result = await pool.query(
    'UPDATE runs SET cancel_requested = true WHERE id = $1 RETURNING status',
    [id],
  );
  if (result.rows.length === 0) throw new RunNotFoundError(id);
  return { status: result.rows[0].status };
}

// --- wait --------------------------------------------------------------------------------

const WAIT_CHANNELS = [CHANNELS.RUN_COMPLETED, CHANNELS.RUN_PROGRESS];

function isPool(db) {
  if (db instanceof pg.Pool) return true;
  if (db instanceof pg.Client) return false;
  // Another copy of `pg`: a Client carries its connection parameters, a Pool does not.
  return typeof db.connect === 'function' && typeof db.totalCount === 'number' && !('connectionParameters' in db);
}

// Several waits may share one Client: the channels are LISTENed by the first and UNLISTENed
// by the last, and only those the session was not already listening on.
const sessions = new WeakMap();

async function acquireListen(client) {
  let session = sessions.get(client);
  if (!session) {
    session = { users: 0, added: [], ready: null };
    sessions.set(client, session);
    session.ready = (async () => {
      const current = await client.query('SELECT pg_listening_channels() AS channel');
      const already = new Set(current.rows.map((r) => r.channel));
      for (const channel of WAIT_CHANNELS) {
        if (already.has(channel)) continue;
        await client.query(`LISTEN ${channel}`);
        session.added.push(channel);
      }
    })();
  }
  session.users += 1;
  try {
    await session.ready;
  } catch (error) {
    session.users -= 1;
    if (sessions.get(client) === session && session.users === 0) sessions.delete(client);
    throw error;
  }
  return session;
}

async function releaseListen(client, session, connected) {
  session.users -= 1;
  if (session.users > 0) return;
  if (sessions.get(client) === session) sessions.delete(client);
  if (!connected) return;
  for (const channel of session.added) await client.query(`UNLISTEN ${channel}`);
}

function parsePayload(message) {
  try {
    const payload = JSON.parse(message.payload);
    return payload !== null && typeof payload === 'object' ? payload : null;
  } catch {
    return null;
  }
}

/**
 * Wait until a run is finished and resolve with it (see `getRun`), whatever its status:
 * check `status` and `error`. `db` is a Pool (a client is checked out for the wait and
 * released) or a connected Client (which stays open; it may serve several waits at once).
 */
export async function waitForRun(db, runId, options) {
  checkQueryable('db', db);
  const id = checkUuid('runId', runId);
  const { onProgress, timeoutMs, signal } = checkOptions('options', options);
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new ValidationError('onProgress', `must be a function, got ${describe(onProgress)}`);
  }
  if (timeoutMs !== undefined && !(Number.isFinite(timeoutMs) && timeoutMs >= 0)) {
    throw new ValidationError('timeoutMs', `must be a non-negative number of milliseconds, got ${describe(timeoutMs)}`);
  }
  if (signal !== undefined && !(signal && typeof signal.addEventListener === 'function' && 'aborted' in signal)) {
    throw new ValidationError('signal', `must be an AbortSignal, got ${describe(signal)}`);
  }
  signal?.throwIfAborted();

  const pooled = isPool(db);
  let settled = false;
  let resolveWait;
  let rejectWait;
  const outcome = new Promise((resolve, reject) => {
    resolveWait = resolve;
    rejectWait = reject;
  });
  let lastStatus = null;
  let connectionBroken = null;
  // Resolved by the run_completed notification for this run (possibly before the first read).
  let completedSeen;
  let onCompleted;
  const rearm = () => {
    completedSeen = new Promise((resolve) => { onCompleted = resolve; });
  };
  rearm();

  // How the wait ended: 'done', 'error', or one of 'timeout', 'abort', 'connection' (after
  // which the caller gets its answer at once and the connection is cleaned up behind it).
  let ending = null;
  const fail = (error, kind = 'error') => {
    if (settled) return;
    settled = true;
    ending = kind;
    rejectWait(error);
  };

  const onNotification = (message) => {
    if (settled) return;
    if (message.channel !== CHANNELS.RUN_COMPLETED && message.channel !== CHANNELS.RUN_PROGRESS) return;
    const payload = parsePayload(message);
    if (!payload || typeof payload.run_id !== 'string' || payload.run_id.toLowerCase() !== id) return;
    if (message.channel === CHANNELS.RUN_COMPLETED) {
      onCompleted(payload);
    } else if (onProgress) {
      try {
        onProgress({ runId: id, stage: payload.stage ?? null, pct: payload.pct ?? null });
      } catch (error) {
        fail(error);
      }
    }
  };
  const onError = (error) => {
    connectionBroken = error ?? new Error('connection error');
    fail(new ConnectionLostError(id, error), 'connection');
  };
  const onEnd = () => {
    connectionBroken ??= new Error('the connection was closed');
    fail(new ConnectionLostError(id, connectionBroken), 'connection');
  };

  let timer = null;
  if (timeoutMs !== undefined) {
    timer = setTimeout(() => fail(new RunTimeoutError(id, timeoutMs, lastStatus), 'timeout'), timeoutMs);
  }
  const onAbort = () => fail(signal.reason, 'abort');
  signal?.addEventListener('abort', onAbort, { once: true });

  let client = null;
  let session = null;
  const work = (async () => {
    client = pooled ? await db.connect() : db;
    if (settled) return; // timed out or aborted while connecting
    client.on('notification', onNotification);
    client.on('error', onError);
    client.on('end', onEnd);
    session = await acquireListen(client);
    // Listening now: a completion committed from here on is announced to us.
    for (;;) {
      if (settled) return;
      const run = await getRun(client, id);
      if (!run) throw new RunNotFoundError(id);
      lastStatus = run.status;
      if (isTerminalStatus(run.status)) return run;
      await Promise.race([completedSeen, outcome]);
      rearm();
    }
  })();
  work.then(
    (run) => {
      if (settled) return;
      settled = true;
      ending = 'done';
      resolveWait(run);
    },
    (error) => {
      if (connectionBroken) fail(new ConnectionLostError(id, connectionBroken), 'connection');
      else fail(error);
    },
  );

  try {
    return await outcome;
  } finally {
    if (timer) clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    // Clean up once `work` has stopped using the connection. A normal end waits for it (the
    // connection is healthy and UNLISTEN is quick); a timeout, an abort or a lost connection
    // answers at once and cleans up in the background. Cleaning up never throws.
    const cleanup = work.catch(() => {}).then(cleanUp).catch(() => {});
    if (ending === 'done' || ending === 'error') await cleanup;
  }

  async function cleanUp() {
    if (!client) return;
    client.removeListener('notification', onNotification);
    let releaseError = connectionBroken;
    try {
      if (session) await releaseListen(client, session, !connectionBroken);
    } catch (error) {
      releaseError = error;
    } finally {
      client.removeListener('end', onEnd);
      if (pooled) {
        // Keep an error listener until the pool has the client back: an 'error' on a
        // checked-out client with no listener would crash the process.
        try {
          client.release(releaseError ?? undefined);
        } finally {
          client.removeListener('error', onError);
        }
      } else {
        client.removeListener('error', onError);
      }
    }
  }
}
