// Types of the HTTP client (http.js). The shapes come from openapi.d.ts, generated from the
// API's OpenAPI document: `npm run generate:types` (a test fails when it drifts).
import type { components } from './openapi.js';

export type Run = components['schemas']['RunOut'];
export type RunCreate = components['schemas']['RunCreate'];
export type RunPage = components['schemas']['Page_RunOut_'];
export type Problem = { type: string; title: string; status: number; detail?: string; [member: string]: unknown };
export type Progress = { run_id: string; stage: string; pct: number };

export class HttpError extends Error {
  readonly status: number;
  readonly problem: Problem;
}

export interface EnqueueOptions {
  datasetId: string;
  strategyId: string;
  initialCapital?: number | string;
  config?: Record<string, unknown>;
  priority?: number;
  mode?: RunCreate['mode'];
  runAfter?: Date | string;
  maxAttempts?: number;
  idempotencyKey?: string;
}

export interface RunFilters {
  status?: Run['status'];
  strategy_id?: string;
  dataset_id?: string;
  mode?: Run['mode'];
  created_before?: string;
  created_after?: string;
  /** part of the run's config.label, any case */
  label?: string;
  limit?: number;
  cursor?: string;
}

export interface HttpClient {
  enqueueRun(options: EnqueueOptions): Promise<Run>;
  getRun(runId: string): Promise<Run | null>;
  listRuns(filters?: RunFilters): Promise<RunPage>;
  cancelRun(runId: string): Promise<Run>;
  waitForRun(
    runId: string,
    options?: { onProgress?: (progress: Progress) => unknown; signal?: AbortSignal; timeoutMs?: number },
  ): Promise<Run>;
  downloadArtifact(runId: string, filename: string): Promise<{ bytes: Uint8Array; contentType: string | null; etag: string | null }>;
}

export function createHttpClient(options: { baseUrl: string; apiKey: string; fetch?: typeof fetch }): HttpClient;
