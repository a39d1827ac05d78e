// Compile-only check of index.d.ts (`npm run typecheck`): the API used as a TypeScript
// caller would, plus a few uses that must not compile.

import pg from 'pg';
import {
  CHANNELS, ConnectionLostError, RUN_STATUS, RunTimeoutError, ValidationError, cancelRun,
  enqueueRun, getRun, isTerminalStatus, waitForRun,
  type FinishedRun, type ProgressEvent, type Run, type RunStatus,
} from '../index.js';

async function usage(): Promise<void> {
  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
  const id: string = await enqueueRun(pool, {
    datasetId: 'd', strategyId: 's', initialCapital: '2500.50', config: { commission: 0.001, tags: ['a'] },
    priority: 1, mode: 'backtest', runAfter: new Date(), maxAttempts: 2,
  });
  const controller = new AbortController();
  const run: FinishedRun = await waitForRun(pool, id, {
    timeoutMs: 1000,
    signal: controller.signal,
    onProgress: (p: ProgressEvent) => console.log(p.runId, p.stage, p.pct?.toFixed(1)),
  });
  const status: 'succeeded' | 'failed' | 'cancelled' = run.status;
  const money: string | undefined = run.metrics?.finalValue ?? undefined;
  const ret: number | null | undefined = run.metrics?.totalReturn;
  const firstArtifactSize: number | undefined = run.artifacts[0]?.sizeBytes;
  const errorType: string | undefined = run.error?.type;
  const finished: Date = run.finishedAt;
  const raw: string | null = run.row.total_return;

  const client = new pg.Client();
  await client.connect();
  await waitForRun(client, id);
  const checkedOut = await pool.connect();
  await waitForRun(checkedOut, id);
  checkedOut.release();

  const maybe: Run | null = await getRun(pool, id);
  const cancelled: { status: RunStatus } = await cancelRun(pool, id);
  const channel: 'run_completed' = CHANNELS.RUN_COMPLETED;
  const pending: 'pending' = RUN_STATUS.PENDING;
  const terminal: boolean = isTerminalStatus(cancelled.status);

  try {
    await waitForRun(pool, id);
  } catch (error) {
    if (error instanceof RunTimeoutError) console.log(error.runId, error.timeoutMs, error.lastStatus);
    if (error instanceof ConnectionLostError) console.log(error.cause);
    if (error instanceof ValidationError) console.log(error.field);
  }

  // @ts-expect-error datasetId is required
  await enqueueRun(pool, { strategyId: 's' });
  // @ts-expect-error config must be a JSON object
  await enqueueRun(pool, { datasetId: 'd', strategyId: 's', config: 'x' });
  // @ts-expect-error mode is one of the ENUM values
  await enqueueRun(pool, { datasetId: 'd', strategyId: 's', mode: 'turbo' });
  // @ts-expect-error onProgress takes a ProgressEvent
  await waitForRun(pool, id, { onProgress: (p: string) => p });
  // @ts-expect-error money is a decimal string, not a number
  const wrong: number = run.initialCapital;

  void [status, money, ret, firstArtifactSize, errorType, finished, raw, maybe, channel, pending, terminal, wrong];
  await pool.end();
}

void usage;
