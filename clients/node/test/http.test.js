// The HTTP client against a real `backtest-worker serve` and a real worker. Run by
// tests/node/test_node_http_client.py, which starts both and sets the variables below.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HttpError, createHttpClient } from '../http.js';

const { BACKTEST_API_URL, BACKTEST_API_KEY, BACKTEST_DATASET_ID, BACKTEST_STRATEGY_ID } = process.env;
const skip = BACKTEST_API_URL ? false : 'BACKTEST_API_URL is not set (no API to test against)';
const MISSING = '00000000-0000-4000-8000-0000000000ff';

describe('http client', { skip, timeout: 120_000 }, () => {
  const api = () => createHttpClient({ baseUrl: BACKTEST_API_URL, apiKey: BACKTEST_API_KEY });
  const ids = { datasetId: BACKTEST_DATASET_ID, strategyId: BACKTEST_STRATEGY_ID };

  it('enqueues once per idempotency key, waits over SSE, lists, downloads', async () => {
    const client = api();
    const run = await client.enqueueRun({ ...ids, config: { commission: 0.001 }, idempotencyKey: 'node-1' });
    assert.equal(run.status, 'pending');
    const again = await client.enqueueRun({ ...ids, config: { commission: 0.001 }, idempotencyKey: 'node-1' });
    assert.equal(again.id, run.id);

    const stages = [];
    const done = await client.waitForRun(run.id, { onProgress: (p) => stages.push(p.stage), timeoutMs: 90_000 });
    assert.equal(done.status, 'succeeded');
    assert.ok(done.total_trades >= 0 && typeof done.final_value === 'string');
    assert.ok(stages.every((stage) => typeof stage === 'string'));

    const page = await client.listRuns({ status: 'succeeded', limit: 10 });
    assert.ok(page.items.some((item) => item.id === run.id));
    const report = await client.downloadArtifact(run.id, 'report.html');
    assert.ok(report.bytes.length > 1000);
    assert.match(report.contentType, /^text\/html/);
    assert.match(report.etag, /^"[0-9a-f]{64}"$/);
  });

  it('cancels, reads a missing run as null, and rejects with the problem', async () => {
    const client = api();
    const run = await client.enqueueRun({ ...ids, runAfter: new Date(Date.now() + 3_600_000) });
    const cancelled = await client.cancelRun(run.id);
    assert.equal(cancelled.status, 'cancelled');
    assert.equal(await client.getRun(MISSING), null);
    await assert.rejects(
      client.enqueueRun({ datasetId: MISSING, strategyId: ids.strategyId }),
      (error) => error instanceof HttpError && error.status === 422 && error.problem.type === '/problems/unknown-reference',
    );
    const stranger = createHttpClient({ baseUrl: BACKTEST_API_URL, apiKey: 'btk_not-a-key' });
    await assert.rejects(stranger.getRun(run.id), (error) => error.status === 401);
  });
});
