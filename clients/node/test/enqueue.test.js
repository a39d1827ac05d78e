// enqueueRun and getRun against a real database.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { NotFoundError, RUN_STATUS, enqueueRun, getRun } from '../index.js';
import { createPool, fixtures, skipWithoutDatabase } from '../testing/db.js';

describe('enqueueRun', { skip: skipWithoutDatabase }, () => {
  let pool;
  before(() => { pool = createPool(); });
  after(() => pool.end());

  it('returns the id of a pending run with the database defaults', async () => {
    const { datasetId, strategyId } = await fixtures(pool);
    const id = await enqueueRun(pool, { datasetId, strategyId });
    assert.match(id, /^[0-9a-f-]{36}$/);
    const { rows: [row] } = await pool.query('SELECT *, run_after <= now() AS due FROM runs WHERE id = $1', [id]);
    assert.equal(row.status, 'pending');
    assert.equal(row.mode, 'backtest');
    assert.equal(row.initial_capital, '10000.0000');
    assert.deepEqual(row.config, {});
    assert.equal(row.priority, 0);
    assert.equal(row.max_attempts, 3);
    assert.equal(row.attempts, 0);
    assert.equal(row.cancel_requested, false);
    assert.equal(row.due, true);
    assert.equal(row.locked_by, null);
    assert.equal(row.dataset_id, datasetId);
    assert.equal(row.strategy_id, strategyId);
  });

  it('stores every option it is given', async () => {
    const { datasetId, strategyId } = await fixtures(pool);
    const runAfter = new Date(Date.now() + 3600_000);
    const config = { commission: 0.001, overrides: { fast_period: 5 }, symbols: ['AAPL'] };
    const id = await enqueueRun(pool, {
      datasetId, strategyId, initialCapital: '123456789.1234', config, priority: -7,
      mode: 'paper', runAfter, maxAttempts: 5,
    });
    const run = await getRun(pool, id);
    assert.equal(run.status, RUN_STATUS.PENDING);
    assert.equal(run.initialCapital, '123456789.1234', 'money stays an exact decimal string');
    assert.deepEqual(run.config, config);
    assert.equal(run.priority, -7);
    assert.equal(run.mode, 'paper');
    assert.equal(run.maxAttempts, 5);
    assert.equal(run.runAfter.getTime(), runAfter.getTime());
    assert.equal(run.metrics, null);
    assert.equal(run.error, null);
    assert.deepEqual(run.artifacts, []);
    assert.equal(run.row.initial_capital, '123456789.1234');
  });

  it('accepts runAfter as an ISO 8601 string', async () => {
    const id = await enqueueRun(pool, { ...(await fixtures(pool)), runAfter: '2030-01-02T03:04:05Z' });
    const run = await getRun(pool, id);
    assert.equal(run.runAfter.toISOString(), '2030-01-02T03:04:05.000Z');
  });

  it('says which referenced row does not exist', async () => {
    const { datasetId, strategyId } = await fixtures(pool);
    const missing = '00000000-0000-4000-8000-000000000000';
    await assert.rejects(enqueueRun(pool, { datasetId: missing, strategyId }), (error) => {
      assert.ok(error instanceof NotFoundError);
      assert.equal(error.message, `dataset ${missing} does not exist`);
      assert.equal(error.entity, 'dataset');
      return true;
    });
    await assert.rejects(enqueueRun(pool, { datasetId, strategyId: missing }), {
      name: 'NotFoundError', message: `strategy ${missing} does not exist`,
    });
  });

  it('getRun returns null for an unknown id', async () => {
    assert.equal(await getRun(pool, '00000000-0000-4000-8000-000000000001'), null);
  });
});
