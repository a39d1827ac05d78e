// Type declarations for @aitradepro/backtest-client (hand-written; the package has no build).

import type { Client, Pool, PoolClient } from 'pg';

// --- constants ---------------------------------------------------------------------------

/** LISTEN/NOTIFY channel names (docs/contract.md, "Channels"). */
export declare const CHANNELS: Readonly<{
  RUNS_PENDING: 'runs_pending';
  RUN_COMPLETED: 'run_completed';
  RUN_PROGRESS: 'run_progress';
  RUN_CANCEL: 'run_cancel';
  API_KEY_REVOKED: 'api_key_revoked';
}>;
export type Channel = (typeof CHANNELS)[keyof typeof CHANNELS];

/** The values of the `run_status` ENUM. */
export declare const RUN_STATUS: Readonly<{
  PENDING: 'pending';
  RUNNING: 'running';
  WAITING: 'waiting';
  SUCCEEDED: 'succeeded';
  FAILED: 'failed';
  CANCELLED: 'cancelled';
}>;
export type RunStatus = (typeof RUN_STATUS)[keyof typeof RUN_STATUS];
export type TerminalStatus = 'succeeded' | 'failed' | 'cancelled';

/** Statuses a run never leaves. */
export declare const TERMINAL_STATUSES: readonly TerminalStatus[];
export declare function isTerminalStatus(status: string): status is TerminalStatus;

export type RunMode = 'backtest' | 'paper' | 'live';
/** The values of the `run_mode` ENUM (this worker executes only `backtest`). */
export declare const RUN_MODES: readonly RunMode[];

export type ArtifactKind = 'plot' | 'report' | 'csv' | 'pickle' | 'json' | 'parquet';
export declare const ARTIFACT_KINDS: readonly ArtifactKind[];

/** Bounds the worker's schema puts on run columns (generated, like the constants above). */
export declare const RUN_LIMITS: Readonly<{
  maxAttempts: { min: number; max: number };
  priority: { min: number; max: number };
}>;

// --- data --------------------------------------------------------------------------------

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** A `Numeric` column as `pg` returns it: an exact decimal string such as `"10000.0000"`. */
export type DecimalString = string;

/** `runs.error` of a failed run. `type` is one of the contract's error types, at least. */
export interface RunError {
  type:
    | 'unknown_strategy'
    | 'invalid_params'
    | 'invalid_config'
    | 'dataset_missing'
    | 'dataset_corrupt'
    | 'unsupported_mode'
    | 'timeout'
    | 'attempts_exhausted'
    | 'value_out_of_range'
    | 'internal_error'
    | (string & {});
  message: string;
  detail?: JsonObject;
  [key: string]: JsonValue | undefined;
}

/** Progress as a worker reports it: `pct` is a percentage, 0–100 (null if unknown). */
export interface RunProgress {
  stage: string;
  pct: number | null;
  [key: string]: JsonValue | undefined;
}

/** What `onProgress` receives for each `run_progress` notification of the awaited run. */
export interface ProgressEvent {
  runId: string;
  stage: string | null;
  pct: number | null;
}

/**
 * The metric columns, typed by one rule: money (`Numeric(18,4)`) is an exact decimal string;
 * ratios and returns (`Numeric(10,4)`, fractions: 0.1842 is +18.42 %) are numbers; trade
 * counts are integers. `all` is the `metrics` JSONB (every metric, full precision, snake_case,
 * `null` where undefined). `null` fields were not set (all of them before a run succeeds).
 */
export interface RunMetrics {
  finalValue: DecimalString | null;
  totalReturn: number | null;
  sharpeRatio: number | null;
  /** Negative fraction, or 0 when the equity never fell. */
  maxDrawdown: number | null;
  winRate: number | null;
  totalTrades: number | null;
  winningTrades: number | null;
  losingTrades: number | null;
  all: { [metric: string]: number | null | JsonValue } | null;
}

export interface Artifact {
  kind: ArtifactKind;
  filename: string;
  storagePath: string;
  mimeType: string;
  /** `bigint` in the database; a JS number here (exact below 9 PB). */
  sizeBytes: number;
  /** 64 lowercase hex characters. */
  sha256: string;
  createdAt: Date;
}

/** A `runs` row exactly as `pg` returns it (Numeric columns are strings). */
export interface RunRow {
  id: string;
  dataset_id: string;
  strategy_id: string;
  mode: RunMode;
  status: RunStatus;
  initial_capital: DecimalString;
  config: JsonObject;
  metadata: JsonObject;
  priority: number;
  run_after: Date;
  attempts: number;
  max_attempts: number;
  locked_by: string | null;
  lease_expires_at: Date | null;
  cancel_requested: boolean;
  progress: RunProgress | null;
  error: RunError | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  final_value: DecimalString | null;
  total_return: DecimalString | null;
  sharpe_ratio: DecimalString | null;
  max_drawdown: DecimalString | null;
  win_rate: DecimalString | null;
  total_trades: number | null;
  winning_trades: number | null;
  losing_trades: number | null;
  metrics: JsonObject | null;
  [column: string]: unknown;
}

/** A run as `getRun` and `waitForRun` return it. */
export interface Run {
  id: string;
  status: RunStatus;
  mode: RunMode;
  datasetId: string;
  strategyId: string;
  /** Money: an exact decimal string (use a decimal library for arithmetic). */
  initialCapital: DecimalString;
  config: JsonObject;
  priority: number;
  /** Set when `status` is `failed`. */
  error: RunError | null;
  /** `null` until the run has metrics (i.e. unless it succeeded). */
  metrics: RunMetrics | null;
  /** The latest progress the worker stored. */
  progress: RunProgress | null;
  attempts: number;
  maxAttempts: number;
  cancelRequested: boolean;
  lockedBy: string | null;
  runAfter: Date;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  metadata: JsonObject | null;
  artifacts: Artifact[];
  /** The raw row, for anything not mapped above. */
  row: RunRow;
}

/** A run `waitForRun` resolved with: its status is terminal. */
export interface FinishedRun extends Run {
  status: TerminalStatus;
  finishedAt: Date;
}

// --- functions ---------------------------------------------------------------------------

/** Anything with `query`: a Pool, a Client or a checked-out PoolClient. */
export type Queryable = Pool | Client | PoolClient;

export interface EnqueueRunOptions {
  datasetId: string;
  strategyId: string;
  /** Account currency, > 0 and < 1e14; a decimal string keeps it exact. Default 10000. */
  initialCapital?: number | DecimalString;
  /** A plain JSON object (execution settings, parameter overrides). Default `{}`. */
  config?: JsonObject;
  /** Smallint; higher runs first. Default 0. */
  priority?: number;
  /** Default `backtest` (the worker fails `paper` and `live` runs with `unsupported_mode`). */
  mode?: RunMode;
  /** Not before this time. Default: now. */
  runAfter?: Date | string;
  /** Integer ≥ 1. Default 3 (the database default). */
  maxAttempts?: number;
}

/**
 * Insert a pending run; resolves with its id. Rejects with `ValidationError` (before any SQL)
 * for bad input and `NotFoundError` when the dataset or strategy does not exist.
 */
export declare function enqueueRun(pool: Queryable, options: EnqueueRunOptions): Promise<string>;

export interface WaitForRunOptions {
  /** Called for each `run_progress` notification of this run. If it throws, the wait rejects with that error. */
  onProgress?: (event: ProgressEvent) => void;
  /** Reject with `RunTimeoutError` after this many milliseconds. Default: wait forever. */
  timeoutMs?: number;
  /** Reject with `signal.reason` when aborted. */
  signal?: AbortSignal;
}

/**
 * Resolve once the run is finished (succeeded, failed or cancelled: check `status`).
 * With a Pool, a client is checked out for the wait and released after; with a Client (it
 * must be connected), the client stays open and may serve several waits at once. LISTENs
 * first, then reads the run, so a run finished before the call resolves at once.
 * Rejects with `RunNotFoundError`, `RunTimeoutError`, `ConnectionLostError`, `ValidationError`
 * or the signal's reason.
 */
export declare function waitForRun(
  db: Pool | Client | PoolClient,
  runId: string,
  options?: WaitForRunOptions,
): Promise<FinishedRun>;

/**
 * Set `cancel_requested`. Resolves with the status after the statement: `cancelled` for a
 * pending run (the database cancels it at once), `running` for a running one (its worker
 * stops it within seconds), or the unchanged terminal status of a finished one.
 * Rejects with `RunNotFoundError` for an unknown id.
 */
export declare function cancelRun(pool: Queryable, runId: string): Promise<{ status: RunStatus }>;

/** Read one run and its artifacts; `null` if no run has that id. */
export declare function getRun(db: Queryable, runId: string): Promise<Run | null>;

/** Shape a raw `runs` row (and its artifact rows) the way `getRun` does. */
export declare function toRun(row: RunRow, artifactRows?: Record<string, unknown>[]): Run;

// --- errors ------------------------------------------------------------------------------

export declare class BacktestClientError extends Error {}

export declare class ValidationError extends BacktestClientError {
  name: 'ValidationError';
  /** The argument that was refused, e.g. `datasetId`. */
  field: string;
}

export declare class NotFoundError extends BacktestClientError {
  entity: 'run' | 'dataset' | 'strategy';
  id: string;
}

export declare class RunNotFoundError extends NotFoundError {
  name: 'RunNotFoundError';
  entity: 'run';
  runId: string;
}

export declare class RunTimeoutError extends BacktestClientError {
  name: 'TimeoutError';
  code: 'ETIMEDOUT';
  runId: string;
  timeoutMs: number;
  /** The status last read before giving up (`null` if it was never read). */
  lastStatus: RunStatus | null;
}

export declare class ConnectionLostError extends BacktestClientError {
  name: 'ConnectionLostError';
  runId: string;
  cause: unknown;
}
