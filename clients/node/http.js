// The HTTP face of the worker (`backtest-worker serve`): the same operations as the SQL client
// (index.js), over /api/v1 with an API key. Node >= 18 (global fetch, web streams).
// Types: http.d.ts, over openapi.d.ts generated from docs/openapi.json.

export class HttpError extends Error {
  /** `problem` is the RFC 9457 body the API answered with. */
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.name = 'HttpError';
    this.status = status;
    this.problem = problem;
  }
}

async function problemOf(response) {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    return { title: response.statusText, status: response.status, detail: text.slice(0, 500) };
  }
}

function* sseEvents(buffer) {
  // Complete messages (separated by a blank line) of `buffer.text`; the tail stays in it.
  let end;
  while ((end = buffer.text.search(/\r?\n\r?\n/)) !== -1) {
    const block = buffer.text.slice(0, end);
    buffer.text = buffer.text.slice(end).replace(/^\r?\n\r?\n/, '');
    let event = 'message';
    const data = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
    }
    if (data.length) yield { event, data: JSON.parse(data.join('\n')) };
  }
}

/**
 * A client for one API (`baseUrl`, e.g. http://localhost:8000) and one key.
 * Every method rejects with HttpError (status + problem) on an error answer.
 */
export function createHttpClient({ baseUrl, apiKey, fetch: fetchImpl = globalThis.fetch }) {
  if (!baseUrl) throw new TypeError('baseUrl is required');
  if (!apiKey) throw new TypeError('apiKey is required');
  const root = `${baseUrl.replace(/\/+$/, '')}/api/v1`;
  const auth = { Authorization: `Bearer ${apiKey}` };

  async function call(method, path, { body, headers = {}, signal } = {}) {
    const response = await fetchImpl(`${root}${path}`, {
      method,
      headers: { ...auth, ...(body ? { 'Content-Type': 'application/json' } : {}), ...headers },
      body: body ? JSON.stringify(body) : undefined,
      signal,
    });
    if (!response.ok) throw new HttpError(response.status, await problemOf(response));
    return response;
  }

  const json = async (...args) => (await call(...args)).json();

  return {
    /** POST /runs; `idempotencyKey` makes a retry return the same run. Resolves to the run. */
    enqueueRun({ datasetId, strategyId, initialCapital, config, priority, mode, runAfter,
      maxAttempts, idempotencyKey }) {
      const body = { dataset_id: datasetId, strategy_id: strategyId };
      if (initialCapital !== undefined) body.initial_capital = Number(initialCapital);
      if (config !== undefined) body.config = config;
      if (priority !== undefined) body.priority = priority;
      if (mode !== undefined) body.mode = mode;
      if (runAfter !== undefined) body.run_after = new Date(runAfter).toISOString();
      if (maxAttempts !== undefined) body.max_attempts = maxAttempts;
      const headers = idempotencyKey ? { 'Idempotency-Key': idempotencyKey } : {};
      return json('POST', '/runs', { body, headers });
    },

    /** GET /runs/{id}; null when there is no such run. */
    async getRun(runId) {
      try {
        return await json('GET', `/runs/${encodeURIComponent(runId)}`);
      } catch (error) {
        if (error instanceof HttpError && error.status === 404) return null;
        throw error;
      }
    },

    /** GET /runs: one page `{items, next_cursor}` (filters as in the OpenAPI document). */
    listRuns(filters = {}) {
      const query = new URLSearchParams();
      for (const [key, value] of Object.entries(filters)) {
        if (value !== undefined && value !== null) query.set(key, String(value));
      }
      const suffix = query.size ? `?${query}` : '';
      return json('GET', `/runs${suffix}`);
    },

    /** POST /runs/{id}/cancel: the run afterwards (`cancelled`, or `running` with
     *  `cancel_requested` until its worker stops it). */
    cancelRun(runId) {
      return json('POST', `/runs/${encodeURIComponent(runId)}/cancel`);
    },

    /**
     * Follows GET /runs/{id}/stream (SSE) until the `completed` message, calling `onProgress`
     * with each progress payload; resolves to the finished run (read again after completion).
     */
    async waitForRun(runId, { onProgress, signal, timeoutMs } = {}) {
      const signals = [signal, timeoutMs ? AbortSignal.timeout(timeoutMs) : undefined]
        .filter(Boolean);
      const combined = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
      const response = await call('GET', `/runs/${encodeURIComponent(runId)}/stream`, {
        headers: { Accept: 'text/event-stream' }, signal: combined,
      });
      const decoder = new TextDecoder();
      const buffer = { text: '' };
      for await (const chunk of response.body) {
        buffer.text += decoder.decode(chunk, { stream: true });
        for (const { event, data } of sseEvents(buffer)) {
          if (event === 'progress' && onProgress) await onProgress(data);
          if (event === 'completed') {
            await response.body.cancel().catch(() => {});
            return json('GET', `/runs/${encodeURIComponent(runId)}`);
          }
        }
      }
      throw new Error(`the stream of run ${runId} ended before its completion`);
    },

    /** GET /runs/{id}/artifacts/{filename}: `{bytes, contentType, etag}`. */
    async downloadArtifact(runId, filename) {
      const response = await call(
        'GET', `/runs/${encodeURIComponent(runId)}/artifacts/${encodeURIComponent(filename)}`,
      );
      return {
        bytes: new Uint8Array(await response.arrayBuffer()),
        contentType: response.headers.get('content-type'),
        etag: response.headers.get('etag'),
      };
    },
  };
}
