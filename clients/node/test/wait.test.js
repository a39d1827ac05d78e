// waitForRun against a real database, with the worker simulated in plain SQL.

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import {
  CHANNELS, ConnectionLostError, RunNotFoundError, RunTimeoutError, enqueueRun, waitForRun,
} from '../index.js';
import {
  SAMPLE_METRICS, acknowledgeCancel, claim, createClient, createPool, failRun, fixtures,
  notifyProgress, progress, succeed, untilListening, skipWithoutDatabase,
} from '../testing/db.js';

const MISSING = '00000000-0000-4000-8000-0000000000ff';

async function listeningChannels(db) {
  const { rows } = await db.query('SELECT pg_listening_channels() AS channel');
  return rows.map((r) => r.channel).sort();
}

// A Client whose reads of the runs row can be awaited: `firstRead` resolves once waitForRun's
// initial SELECT has completed, i.e. it is listening and has seen the run unfinished.
async function spyClient() {
  const client = await createClient();
  const query = client.query.bind(client);
  let reads = 0;
  let onFirstRead;
  const firstRead = new Promise((resolve) => { onFirstRead = resolve; });
  client.query = (...args) => {
    const result = query(...args);
    if (typeof args[0] === 'string' && args[0].startsWith('SELECT * FROM runs')) {
      reads += 1;
      result.then(() => onFirstRead(), () => {});
    }
    return result;
  };
  return { client, firstRead, reads: () => reads };
}

describe('waitForRun', { skip: skipWithoutDatabase, timeout: 30_000 }, () => {
  let pool;
  before(() => { pool = createPool(); });
  after(() => pool.end());

  async function newRun(options = {}) {
    return enqueueRun(pool, { ...(await fixtures(pool)), ...options });
  }

  it('resolves on run_completed with typed metrics and the artifact rows', async () => {
    const runId = await newRun({ initialCapital: 10000 });
    await claim(pool, runId);
    const spy = await spyClient();
    try {
      const seen = [];
      const waiting = waitForRun(spy.client, runId, { onProgress: (p) => seen.push(p), timeoutMs: 10_000 });
      await spy.firstRead; // listening, and the run was still running when read
      await progress(pool, runId, 'simulate', 42.5);
      await succeed(pool, runId);
      const run = await waiting;
      assert.equal(spy.reads(), 2, 'read once before and once after the notification');

      assert.equal(run.id, runId);
      assert.equal(run.status, 'succeeded');
      assert.equal(run.error, null);
      assert.equal(run.attempts, 1);
      assert.ok(run.startedAt instanceof Date);
      assert.ok(run.finishedAt instanceof Date && run.finishedAt >= run.startedAt);
      assert.equal(run.initialCapital, '10000.0000');
      assert.deepEqual(run.progress, { stage: 'done', pct: 100 });
      assert.deepEqual(seen, [{ runId, stage: 'simulate', pct: 42.5 }]);

      const m = run.metrics;
      assert.equal(m.finalValue, '11842.0000', 'money is an exact decimal string');
      assert.equal(m.totalReturn, 0.1842);
      assert.equal(m.sharpeRatio, 1.2311);
      assert.equal(m.maxDrawdown, -0.0912);
      assert.equal(m.winRate, 0.6429, 'a Numeric(10,4) column, rounded to 4 places');
      assert.equal(m.totalTrades, 14);
      assert.equal(m.winningTrades, 9);
      assert.equal(m.losingTrades, 5);
      assert.deepEqual(m.all, SAMPLE_METRICS, 'the metrics JSON, full precision, nulls kept');
      assert.equal(run.row.total_return, '0.1842', 'row keeps what pg returns');

      assert.deepEqual(
        run.artifacts.map(({ createdAt, ...rest }) => rest).sort((a, b) => a.filename.localeCompare(b.filename)),
        [
          { kind: 'report', filename: 'report.html', storagePath: `artifacts/${runId}/report.html`,
            mimeType: 'text/html', sizeBytes: 12345, sha256: 'a'.repeat(64) },
          { kind: 'csv', filename: 'trades.csv', storagePath: `artifacts/${runId}/trades.csv`,
            mimeType: 'text/csv', sizeBytes: 678, sha256: 'b'.repeat(64) },
        ].sort((a, b) => a.filename.localeCompare(b.filename)),
      );
      assert.deepEqual(await listeningChannels(spy.client), [], 'UNLISTENed on the way out');
      assert.equal(spy.client.listenerCount('notification'), 0);
      assert.equal(spy.client.listenerCount('error'), 0);
    } finally {
      await spy.client.end();
    }
  });

  it('with a Pool: checks out one client, then UNLISTENs and releases it', async () => {
    const small = createPool({ max: 1 });
    try {
      const runId = await newRun();
      await claim(pool, runId);
      let heard = false;
      const waiting = waitForRun(small, runId, { onProgress: () => { heard = true; }, timeoutMs: 10_000 });
      await untilListening(pool, runId, () => heard);
      assert.equal(small.totalCount, 1);
      assert.equal(small.idleCount, 0, 'the client is checked out while waiting');
      await succeed(pool, runId);
      const run = await waiting;
      assert.equal(run.status, 'succeeded');
      assert.equal(small.idleCount, 1, 'released when the promise settles');
      assert.deepEqual(await listeningChannels(small), [], 'the pooled connection listens to nothing');
    } finally {
      await small.end();
    }
  });

  it('accepts a client checked out of a pool and leaves it checked out', async () => {
    const runId = await newRun();
    await claim(pool, runId);
    await succeed(pool, runId);
    const checkedOut = await pool.connect();
    try {
      const run = await waitForRun(checkedOut, runId, { timeoutMs: 5000 });
      assert.equal(run.status, 'succeeded');
      assert.deepEqual(await listeningChannels(checkedOut), [], 'UNLISTENed');
      assert.equal(checkedOut.listenerCount('notification'), 0);
    } finally {
      checkedOut.release(); // would throw if waitForRun had released it already
    }
  });

  it('resolves at once for a run that finished before it started listening', async () => {
    const runId = await newRun();
    await claim(pool, runId);
    await succeed(pool, runId);
    const started = performance.now();
    const run = await waitForRun(pool, runId, { timeoutMs: 2000 });
    assert.equal(run.status, 'succeeded');
    assert.equal(run.artifacts.length, 2);
    assert.ok(performance.now() - started < 1000, 'no waiting for a notification that already went');
  });

  it('passes on the progress of its own run only', async () => {
    const runId = await newRun();
    const otherId = await newRun();
    await claim(pool, runId);
    await claim(pool, otherId);
    const seen = [];
    const waiting = waitForRun(pool, runId, { onProgress: (p) => seen.push(p), timeoutMs: 10_000 });
    await untilListening(pool, runId, () => seen.length > 0);
    seen.length = 0;
    await progress(pool, otherId, 'load', 10);
    await progress(pool, runId, 'load', 20);
    await notifyProgress(pool, otherId, 'simulate', 30);
    await pool.query(`SELECT pg_notify('run_progress', 'not json')`);
    await pool.query(`SELECT pg_notify('run_progress', '{"stage": "no run id"}')`);
    await progress(pool, runId, 'simulate', 60);
    await progress(pool, runId, 'measure', null);
    // The other run finishing must not end this wait.
    await succeed(pool, otherId);
    await sleep(100);
    await succeed(pool, runId);
    const run = await waiting;
    assert.equal(run.id, runId);
    assert.deepEqual(seen, [
      { runId, stage: 'load', pct: 20 },
      { runId, stage: 'simulate', pct: 60 },
      { runId, stage: 'measure', pct: null },
    ]);
  });

  it('resolves a failed run with its error', async () => {
    const runId = await newRun();
    await claim(pool, runId);
    let heard = false;
    const waiting = waitForRun(pool, runId, { onProgress: () => { heard = true; }, timeoutMs: 10_000 });
    await untilListening(pool, runId, () => heard);
    const error = { type: 'invalid_params', message: 'fast_period must be less than slow_period', detail: { fast_period: 50 } };
    await failRun(pool, runId, error);
    const run = await waiting;
    assert.equal(run.status, 'failed');
    assert.deepEqual(run.error, error);
    assert.equal(run.metrics, null);
    assert.deepEqual(run.artifacts, []);
    assert.ok(run.finishedAt instanceof Date);
  });

  it('resolves a running run cancelled by its worker', async () => {
    const runId = await newRun();
    await claim(pool, runId);
    let heard = false;
    const waiting = waitForRun(pool, runId, { onProgress: () => { heard = true; }, timeoutMs: 10_000 });
    await untilListening(pool, runId, () => heard);
    await pool.query('UPDATE runs SET cancel_requested = true WHERE id = $1', [runId]);
    await acknowledgeCancel(pool, runId);
    const run = await waiting;
    assert.equal(run.status, 'cancelled');
  });

  it('rejects with a TimeoutError naming the run, and cleans up', async () => {
    const small = createPool({ max: 1 });
    try {
      const runId = await newRun();
      const started = performance.now();
      await assert.rejects(waitForRun(small, runId, { timeoutMs: 300 }), (error) => {
        assert.ok(error instanceof RunTimeoutError);
        assert.equal(error.name, 'TimeoutError');
        assert.equal(error.runId, runId);
        assert.equal(error.lastStatus, 'pending');
        assert.equal(error.message, `timed out after 300 ms waiting for run ${runId} to finish (last seen pending)`);
        return true;
      });
      const elapsed = performance.now() - started;
      assert.ok(elapsed >= 290 && elapsed < 2000, `rejected after ${elapsed} ms`);
      // The one connection comes back to the pool, listening to nothing.
      assert.deepEqual(await listeningChannels(small), []);
    } finally {
      await small.end();
    }
  });

  it('rejects for a run that does not exist', async () => {
    const small = createPool({ max: 1 });
    try {
      await assert.rejects(waitForRun(small, MISSING, { timeoutMs: 10_000 }), (error) => {
        assert.ok(error instanceof RunNotFoundError);
        assert.equal(error.message, `run ${MISSING} does not exist`);
        return true;
      });
      assert.equal(small.idleCount, 1);
      assert.deepEqual(await listeningChannels(small), []);
    } finally {
      await small.end();
    }
  });

  it('rejects with the reason when its signal aborts', async () => {
    const runId = await newRun();
    const controller = new AbortController();
    const waiting = waitForRun(pool, runId, { signal: controller.signal, timeoutMs: 10_000 });
    setTimeout(() => controller.abort(), 100);
    await assert.rejects(waiting, { name: 'AbortError' });
  });

  it('rejects with the error its onProgress throws', async () => {
    const runId = await newRun();
    await claim(pool, runId);
    const waiting = assert.rejects(
      waitForRun(pool, runId, { onProgress: () => { throw new Error('progress bar broke'); }, timeoutMs: 5000 }),
      { message: 'progress bar broke' },
    );
    await assert.rejects(untilListening(pool, runId, () => false, { timeoutMs: 300 }));
    await waiting;
  });

  it('rejects with ConnectionLostError when the connection dies', async () => {
    const runId = await newRun();
    const client = await createClient();
    client.on('error', () => {}); // the test owns this client; the wait reports the loss
    const waiting = waitForRun(client, runId, { timeoutMs: 10_000 });
    waiting.catch(() => {}); // asserted below
    // Wait until the session has LISTENed and read the run, then kill it from another session.
    for (let i = 0; i < 200; i++) {
      const { rows } = await pool.query(
        `SELECT state, query FROM pg_stat_activity WHERE pid = $1`, [client.processID],
      );
      if (rows[0]?.state === 'idle' && /FROM artifacts/.test(rows[0].query)) break;
      await sleep(10);
    }
    await pool.query('SELECT pg_terminate_backend($1)', [client.processID]);
    await assert.rejects(waiting, (error) => {
      assert.ok(error instanceof ConnectionLostError);
      assert.equal(error.runId, runId);
      assert.match(error.message, new RegExp(`^lost the database connection while waiting for run ${runId}: .+`));
      return true;
    });
    await client.end().catch(() => {});
  });

  it('shares a Client between waits and keeps the LISTENs its owner made', async () => {
    const client = await createClient();
    try {
      await client.query(`LISTEN ${CHANNELS.RUN_COMPLETED}`);
      const a = await newRun();
      const b = await newRun();
      await claim(pool, a);
      await claim(pool, b);
      const heard = new Set();
      const waitA = waitForRun(client, a, { onProgress: (p) => heard.add(p.runId), timeoutMs: 10_000 });
      const waitB = waitForRun(client, b, { onProgress: (p) => heard.add(p.runId), timeoutMs: 10_000 });
      await untilListening(pool, a, () => heard.has(a));
      await untilListening(pool, b, () => heard.has(b));
      await succeed(pool, a);
      assert.equal((await waitA).status, 'succeeded');
      // b is still waiting on the same session: its channels must still be listened to.
      assert.deepEqual(await listeningChannels(client), [CHANNELS.RUN_COMPLETED, CHANNELS.RUN_PROGRESS]);
      await failRun(pool, b, { type: 'internal_error', message: 'boom' });
      assert.equal((await waitB).status, 'failed');
      assert.deepEqual(await listeningChannels(client), [CHANNELS.RUN_COMPLETED], "the owner's LISTEN stays");
    } finally {
      await client.end();
    }
  });
});
