// cancelRun against a real database: the trigger cancels pending runs in the same statement;
// running runs are told on run_cancel and stopped by their worker.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  CHANNELS, RunNotFoundError, cancelRun, enqueueRun, getRun, waitForRun,
} from '../index.js';
import {
  acknowledgeCancel, claim, createClient, createPool, fixtures, succeed, skipWithoutDatabase,
} from '../testing/db.js';

describe('cancelRun', { skip: skipWithoutDatabase, timeout: 30_000 }, () => {
  let pool;
  before(() => { pool = createPool(); });
  after(() => pool.end());

  async function newRun() {
    return enqueueRun(pool, await fixtures(pool));
  }

  it('cancels a pending run at once, and waitForRun sees it', async () => {
    const runId = await newRun();
    const result = await cancelRun(pool, runId);
    assert.deepEqual(result, { status: 'cancelled' });
    const run = await waitForRun(pool, runId, { timeoutMs: 2000 });
    assert.equal(run.status, 'cancelled');
    assert.equal(run.cancelRequested, true);
    assert.ok(run.finishedAt instanceof Date);
    assert.equal(run.attempts, 0, 'no worker ever claimed it');
  });

  it('wakes a waiter on run_completed when a pending run is cancelled', async () => {
    const runId = await newRun();
    const listener = await createClient();
    try {
      const notified = new Promise((resolve) => {
        listener.on('notification', (m) => {
          if (m.channel === CHANNELS.RUN_COMPLETED && JSON.parse(m.payload).run_id === runId) resolve(JSON.parse(m.payload));
        });
      });
      await listener.query(`LISTEN ${CHANNELS.RUN_COMPLETED}`);
      await cancelRun(pool, runId);
      const payload = await notified;
      assert.equal(payload.status, 'cancelled');
    } finally {
      await listener.end();
    }
  });

  it('asks the worker of a running run, which then stops it', async () => {
    const runId = await newRun();
    await claim(pool, runId);
    const workerSide = await createClient();
    try {
      const told = new Promise((resolve) => {
        workerSide.on('notification', (m) => {
          if (m.channel === CHANNELS.RUN_CANCEL && m.payload === runId) resolve();
        });
      });
      await workerSide.query(`LISTEN ${CHANNELS.RUN_CANCEL}`);
      assert.deepEqual(await cancelRun(pool, runId), { status: 'running' });
      await told;
      const waiting = waitForRun(pool, runId, { timeoutMs: 5000 });
      await acknowledgeCancel(pool, runId);
      assert.equal((await waiting).status, 'cancelled');
    } finally {
      await workerSide.end();
    }
  });

  it('leaves a finished run as it is', async () => {
    const runId = await newRun();
    await claim(pool, runId);
    await succeed(pool, runId);
    assert.deepEqual(await cancelRun(pool, runId), { status: 'succeeded' });
    assert.equal((await getRun(pool, runId)).status, 'succeeded');
  });

  it('rejects for a run that does not exist', async () => {
    const missing = '00000000-0000-4000-8000-00000000c0de';
    await assert.rejects(cancelRun(pool, missing), (error) => {
      assert.ok(error instanceof RunNotFoundError);
      assert.equal(error.message, `run ${missing} does not exist`);
      return true;
    });
  });
});
