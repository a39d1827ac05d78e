// Argument checks: every bad input is refused with a clear message before any SQL is sent.
// Needs no database: the "pool" here only records the queries it is asked to run.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  ValidationError, cancelRun, enqueueRun, getRun, waitForRun,
} from '../index.js';

const DATASET = '0b5e7f0e-6f0a-4d8e-9c43-3b8f3c1f2a11';
const STRATEGY = 'F3C1E2D4-5A6B-4C7D-8E9F-0A1B2C3D4E5F';

function recordingPool() {
  const queries = [];
  return {
    queries,
    async query(sql, params) {
      queries.push({ sql, params });
      return { rows: [{ id: 'fake-id', status: 'pending' }], rowCount: 1 };
    },
  };
}

async function refused(promise, field, pattern) {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof ValidationError, `expected a ValidationError, got ${error}`);
    assert.equal(error.name, 'ValidationError');
    assert.equal(error.field, field);
    assert.match(error.message, pattern);
    return true;
  });
}

describe('enqueueRun validation', () => {
  const cases = [
    ['no options', undefined, 'options', /must be an object with datasetId and strategyId/],
    ['missing datasetId', { strategyId: STRATEGY }, 'datasetId', /must be a UUID string, got undefined/],
    ['bad datasetId', { datasetId: 'abc', strategyId: STRATEGY }, 'datasetId', /must be a UUID string, got the string "abc"/],
    ['numeric strategyId', { datasetId: DATASET, strategyId: 42 }, 'strategyId', /must be a UUID string, got number 42/],
    ['zero capital', { datasetId: DATASET, strategyId: STRATEGY, initialCapital: 0 }, 'initialCapital', /must be positive, got 0/],
    ['negative capital', { datasetId: DATASET, strategyId: STRATEGY, initialCapital: -5 }, 'initialCapital', /must be positive/],
    ['NaN capital', { datasetId: DATASET, strategyId: STRATEGY, initialCapital: NaN }, 'initialCapital', /must be finite/],
    ['huge capital', { datasetId: DATASET, strategyId: STRATEGY, initialCapital: 1e15 }, 'initialCapital', /below 1e14.*Numeric\(18,4\)/],
    ['text capital', { datasetId: DATASET, strategyId: STRATEGY, initialCapital: 'lots' }, 'initialCapital', /positive decimal/],
    ['array config', { datasetId: DATASET, strategyId: STRATEGY, config: [1, 2] }, 'config', /must be a plain object.*an array/],
    ['string config', { datasetId: DATASET, strategyId: STRATEGY, config: '{"a":1}' }, 'config', /must be a plain object/],
    ['null config', { datasetId: DATASET, strategyId: STRATEGY, config: null }, 'config', /must be a plain object.*null/],
    ['Map config', { datasetId: DATASET, strategyId: STRATEGY, config: new Map() }, 'config', /a Map object/],
    ['NaN in config', { datasetId: DATASET, strategyId: STRATEGY, config: { commission: NaN } }, 'config', /config\.commission is NaN/],
    ['Infinity deep in config', { datasetId: DATASET, strategyId: STRATEGY, config: { a: [1, { b: Infinity }] } }, 'config', /config\.a\[1\]\.b is Infinity/],
    ['bigint in config', { datasetId: DATASET, strategyId: STRATEGY, config: { n: 1n } }, 'config', /config\.n is a bigint/],
    ['fractional priority', { datasetId: DATASET, strategyId: STRATEGY, priority: 1.5 }, 'priority', /integer from -32768 to 32767, got number 1.5/],
    ['priority too large', { datasetId: DATASET, strategyId: STRATEGY, priority: 40000 }, 'priority', /integer from -32768 to 32767/],
    ['unknown mode', { datasetId: DATASET, strategyId: STRATEGY, mode: 'turbo' }, 'mode', /one of backtest, paper, live/],
    ['bad runAfter', { datasetId: DATASET, strategyId: STRATEGY, runAfter: 'tomorrow' }, 'runAfter', /Date or an ISO 8601 string/],
    ['invalid Date', { datasetId: DATASET, strategyId: STRATEGY, runAfter: new Date('x') }, 'runAfter', /invalid Date/],
    ['zero maxAttempts', { datasetId: DATASET, strategyId: STRATEGY, maxAttempts: 0 }, 'maxAttempts', /integer from 1/],
    ['misspelt option', { datasetId: DATASET, strategyId: STRATEGY, initial_capital: 5 }, 'initial_capital', /not an option of enqueueRun/],
  ];
  for (const [name, options, field, pattern] of cases) {
    it(`refuses ${name}`, async () => {
      const pool = recordingPool();
      await refused(enqueueRun(pool, options), field, pattern);
      assert.equal(pool.queries.length, 0, 'no SQL may be sent for invalid input');
    });
  }

  it('refuses something that is not a pool', async () => {
    await refused(enqueueRun('postgres://', { datasetId: DATASET, strategyId: STRATEGY }), 'pool', /pg Pool or Client/);
  });

  it('sends one parameterized INSERT with the config as a JSON parameter', async () => {
    const pool = recordingPool();
    const config = { commission: 0.001, name: "O'Brien; DROP TABLE runs" };
    const id = await enqueueRun(pool, { datasetId: DATASET, strategyId: STRATEGY, initialCapital: '2500.50', config });
    assert.equal(id, 'fake-id');
    assert.equal(pool.queries.length, 1);
    const [{ sql, params }] = pool.queries;
    assert.match(sql, /^INSERT INTO runs \(.*\) VALUES \(\$1, .*\) RETURNING id$/);
    assert.ok(!sql.includes('O\'Brien'), 'values travel as parameters, never in the SQL text');
    assert.ok(params.includes(JSON.stringify(config)));
    assert.ok(params.includes('2500.50'), 'a decimal string is passed through unchanged');
    assert.ok(params.includes(STRATEGY.toLowerCase()));
  });
});

describe('enqueueRun has the worker\'s input bounds (clients/node/limits.json)', () => {
  const limits = JSON.parse(readFileSync(new URL('../limits.json', import.meta.url), 'utf8'));
  const nested = (levels) => {
    let value = {};
    for (let i = 1; i < levels; i += 1) value = { n: value };
    return value;
  };
  const options = (config) => ({ datasetId: DATASET, strategyId: STRATEGY, config });

  it('accepts a config at the depth limit and refuses one level more', async () => {
    const pool = recordingPool();
    await enqueueRun(pool, options(nested(limits.maxJsonDepth)));
    assert.equal(pool.queries.length, 1);
    await refused(enqueueRun(pool, options(nested(limits.maxJsonDepth + 1))), 'config', /nested more than 100 levels deep/);
    await refused(enqueueRun(pool, options(nested(10000))), 'config', /nested more than/);
    assert.equal(pool.queries.length, 1, 'no SQL may be sent for invalid input');
  });
  it('refuses a config over the size limit', async () => {
    const pool = recordingPool();
    await refused(enqueueRun(pool, options({ k: 'x'.repeat(limits.maxJsonBytes) })), 'config', /bytes of JSON, more than 262144/);
    assert.equal(pool.queries.length, 0);
  });
});

describe('other functions validate their arguments', () => {
  it('getRun refuses a malformed id', async () => {
    await refused(getRun(recordingPool(), 'run-1'), 'runId', /must be a UUID/);
  });
  it('cancelRun refuses a malformed id', async () => {
    const pool = recordingPool();
    await refused(cancelRun(pool, undefined), 'runId', /must be a UUID string, got undefined/);
    assert.equal(pool.queries.length, 0);
  });
  it('waitForRun refuses bad options', async () => {
    const pool = recordingPool();
    await refused(waitForRun(pool, DATASET, { timeoutMs: -1 }), 'timeoutMs', /non-negative/);
    await refused(waitForRun(pool, DATASET, { onProgress: 'log' }), 'onProgress', /must be a function/);
    await refused(waitForRun(pool, DATASET, { signal: {} }), 'signal', /AbortSignal/);
    await refused(waitForRun(pool, 'nope'), 'runId', /must be a UUID/);
    assert.equal(pool.queries.length, 0);
  });
  it('waitForRun with an aborted signal rejects at once with its reason', async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(waitForRun(recordingPool(), DATASET, { signal: controller.signal }), { name: 'AbortError' });
  });
});

describe('generated constants', () => {
  it('come from the worker (parquet artifacts, max_attempts <= 100)', async () => {
    const { ARTIFACT_KINDS, RUN_LIMITS } = await import('../index.js');
    assert.ok(ARTIFACT_KINDS.includes('parquet'));
    assert.equal(RUN_LIMITS.maxAttempts.max, 100);
    const pool = recordingPool();
    const ids = { datasetId: DATASET, strategyId: STRATEGY };
    await refused(enqueueRun(pool, { ...ids, maxAttempts: 101 }), 'maxAttempts', /integer from 1 to 100/);
    assert.equal(pool.queries.length, 0);
  });
});
