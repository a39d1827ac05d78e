// Compile-only check of http.d.ts: its types come from the generated openapi.d.ts.

import { HttpError, createHttpClient, type Run } from '../http.js';

async function usage(): Promise<void> {
  const client = createHttpClient({ baseUrl: 'http://localhost:8000', apiKey: 'btk_…' });
  const run: Run = await client.enqueueRun({ datasetId: 'd', strategyId: 's', idempotencyKey: 'k' });
  const status: 'pending' | 'running' | 'waiting' | 'succeeded' | 'failed' | 'cancelled' = run.status;
  const done = await client.waitForRun(run.id, { onProgress: ({ stage, pct }) => console.log(stage, pct) });
  const page = await client.listRuns({ status: 'succeeded', limit: 10 });
  const next: string | null | undefined = page.next_cursor;
  const file = await client.downloadArtifact(done.id, 'report.html');
  console.log(status, next, file.bytes.length, file.etag);
  try {
    await client.cancelRun(run.id);
  } catch (error) {
    if (error instanceof HttpError) console.log(error.status, error.problem.title);
  }
  // @ts-expect-error: a status the API does not have
  const wrong: Run['status'] = 'done';
  console.log(wrong);
}
void usage;
