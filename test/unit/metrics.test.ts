/** The metrics' drift gauge (src/io/metrics.ts). */
import { describe, expect, it } from 'vitest';
import { RefreshMetrics } from '../../src/io/metrics.js';

describe('the metrics', () => {
  it('stats_refresh_drift{endpoint} is 1 while drift is recorded, and a run that could not start leaves it', async () => {
    const metrics = new RefreshMetrics();
    const finishedAt = new Date('2026-06-15T12:00:00Z');
    const outcome = { family: 'users' as const, result: 'failed' as const, finishedAt, durationSeconds: 1, statements: 4, requestsOk: 0, requestsFailed: 6, keysWritten: 0, learnedRequests: 0 };
    metrics.recordRun({ ...outcome, drift: true });
    expect(await metrics.text()).toMatch(/^stats_refresh_drift\{endpoint="users"\} 1$/m);
    metrics.recordRun({ ...outcome, drift: null });
    expect(await metrics.text()).toMatch(/^stats_refresh_drift\{endpoint="users"\} 1$/m);
    metrics.recordRun({ ...outcome, result: 'ok', drift: false });
    expect(await metrics.text()).toMatch(/^stats_refresh_drift\{endpoint="users"\} 0$/m);
  });
});
