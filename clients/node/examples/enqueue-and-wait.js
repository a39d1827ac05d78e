#!/usr/bin/env node
// Enqueue one backtest, print its progress, and print the finished run as JSON.
//
//   DATABASE_URL=postgresql://… node examples/enqueue-and-wait.js DATASET_ID STRATEGY_ID ['{"commission": 0.001}']
//
// Optional environment: INITIAL_CAPITAL (default 10000), TIMEOUT_MS (default: wait forever).
// stdout, one item a line: `enqueued <run id>`, `progress <stage> <pct>` for each progress
// notification, then the finished run as one line of JSON (its last line).
// Exit status: 0 succeeded; 2 the run failed or was cancelled; 1 anything else (bad
// arguments, timeout, lost connection). Ctrl-C asks for the run to be cancelled and keeps
// waiting for the worker to stop it; a second Ctrl-C exits at once.

import pg from 'pg';
import { cancelRun, enqueueRun, waitForRun } from '../index.js';

const USAGE = 'usage: DATABASE_URL=… node examples/enqueue-and-wait.js DATASET_ID STRATEGY_ID [CONFIG_JSON]';

async function main(argv) {
  const [datasetId, strategyId, configText] = argv;
  if (!datasetId || !strategyId || argv.length > 3) throw new UsageError(USAGE);
  const connectionString = process.env.DATABASE_URL;
  if (!connectionString) throw new UsageError(`DATABASE_URL is not set\n${USAGE}`);
  let config = {};
  if (configText !== undefined) {
    try {
      config = JSON.parse(configText);
    } catch (error) {
      throw new UsageError(`CONFIG_JSON is not valid JSON: ${error.message}`);
    }
  }
  const initialCapital = process.env.INITIAL_CAPITAL ?? 10000;
  const timeoutMs = process.env.TIMEOUT_MS ? Number(process.env.TIMEOUT_MS) : undefined;

  const pool = new pg.Pool({ connectionString, max: 2 });
  pool.on('error', () => {}); // an idle client's error: the next query reports it
  try {
    const runId = await enqueueRun(pool, { datasetId, strategyId, initialCapital, config });
    let interrupts = 0;
    const onSigint = () => {
      interrupts += 1;
      if (interrupts > 1) process.exit(130);
      console.error(`cancelling run ${runId} (Ctrl-C again to exit now)`);
      cancelRun(pool, runId).catch((error) => console.error(`could not cancel: ${error.message}`));
    };
    process.on('SIGINT', onSigint); // before the id is printed: whoever reads it may interrupt
    console.log(`enqueued ${runId}`);
    try {
      const run = await waitForRun(pool, runId, {
        timeoutMs,
        onProgress: ({ stage, pct }) => console.log(`progress ${stage} ${pct ?? '?'}`),
      });
      const { row, ...result } = run;
      console.log(JSON.stringify(result));
      return run.status === 'succeeded' ? 0 : 2;
    } finally {
      process.off('SIGINT', onSigint);
    }
  } finally {
    await pool.end();
  }
}

class UsageError extends Error {}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (error) => {
    console.error(`error: ${error.message}`);
    process.exitCode = 1;
  },
);
