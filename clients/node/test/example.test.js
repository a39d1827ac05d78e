// examples/enqueue-and-wait.js as a child process, with the worker simulated in plain SQL.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import {
  DATABASE_URL, claim, createPool, fixtures, progress, succeed, untilListening, skipWithoutDatabase,
} from '../testing/db.js';

const SCRIPT = fileURLToPath(new URL('../examples/enqueue-and-wait.js', import.meta.url));

function start(args, env = {}) {
  const child = spawn(process.execPath, [SCRIPT, ...args], {
    env: { ...process.env, DATABASE_URL, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines = [];
  let stderr = '';
  child.stderr.on('data', (chunk) => { stderr += chunk; });
  let onEnqueued;
  const enqueued = new Promise((resolve) => { onEnqueued = resolve; });
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line);
    const match = /^enqueued (\S+)$/.exec(line);
    if (match) onEnqueued(match[1]);
  });
  const exited = once(child, 'exit').then(([code, signal]) => ({ code, signal, stderr: () => stderr }));
  return { child, lines, enqueued, exited };
}

describe('examples/enqueue-and-wait.js', { skip: skipWithoutDatabase, timeout: 30_000 }, () => {
  let pool;
  before(() => { pool = createPool(); });
  after(() => pool.end());

  it('enqueues, prints progress, and prints the finished run as JSON', async () => {
    const { datasetId, strategyId } = await fixtures(pool);
    const script = start([datasetId, strategyId, '{"commission": 0.001}'], { TIMEOUT_MS: '20000' });
    const runId = await script.enqueued;
    await claim(pool, runId);
    await untilListening(pool, runId, () => script.lines.some((l) => l.startsWith('progress ')));
    await progress(pool, runId, 'simulate', 50);
    await succeed(pool, runId);
    const { code, stderr } = await script.exited;
    assert.equal(code, 0, stderr());
    assert.ok(script.lines.includes('progress simulate 50'), script.lines.join('\n'));
    const result = JSON.parse(script.lines.at(-1));
    assert.equal(result.id, runId);
    assert.equal(result.status, 'succeeded');
    assert.deepEqual(result.config, { commission: 0.001 });
    assert.equal(result.metrics.finalValue, '11842.0000');
    assert.equal(result.metrics.totalReturn, 0.1842);
    assert.equal(result.artifacts.length, 2);
    assert.equal(result.row, undefined);
  });

  it('cancels its run on Ctrl-C and exits 2', async () => {
    const { datasetId, strategyId } = await fixtures(pool);
    const script = start([datasetId, strategyId], { TIMEOUT_MS: '20000' });
    await script.enqueued;
    script.child.kill('SIGINT');
    const { code, stderr } = await script.exited;
    assert.equal(code, 2, stderr());
    assert.equal(JSON.parse(script.lines.at(-1)).status, 'cancelled');
  });

  it('explains bad arguments and exits 1', async () => {
    const script = start(['not-a-uuid', 'x']);
    const { code, stderr } = await script.exited;
    assert.equal(code, 1);
    assert.match(stderr(), /^error: datasetId: must be a UUID string/);
  });
});
