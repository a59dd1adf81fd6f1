/**
 * Hand-made records of a run (src/run/results.ts) for the tests of its projections: a
 * request's result, written or failed.
 */
import type { StatsRequest } from '../../src/requests/batches.js';
import { payloadKey, requestLabel } from '../../src/requests/request-keys.js';
import type { RequestError, RequestResult } from '../../src/run/results.js';

/** A failure to compute `request`'s payload, with this message. */
export const computeError = (request: StatsRequest, message: string): RequestError => ({ kind: 'compute', key: payloadKey(request), message });

/** `request`'s result in a batch: its payload written in 100 ms, unless `over` says otherwise. */
export function requestResult(request: StatsRequest, over: Partial<RequestResult> = {}): RequestResult {
  return {
    request,
    origin: 'batch',
    family: request.family,
    label: requestLabel(request),
    key: payloadKey(request),
    written: [payloadKey(request)],
    error: null,
    computeMs: 100,
    ...over,
  };
}
