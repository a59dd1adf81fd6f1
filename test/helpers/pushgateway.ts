/**
 * A Pushgateway of a test's own (Debian's prometheus-pushgateway): its own free port and its own
 * persistence file in a fresh temporary folder. Debian's default file,
 * /var/lib/prometheus/pushgateway.data, is shared by every Pushgateway started on the machine,
 * so a test would otherwise read what an earlier one pushed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './services.js';

export interface TestPushgateway {
  readonly url: string;
  stop(): Promise<void>;
}

/** Starts one and resolves once it answers; another port is tried when the free one was taken meanwhile. */
export async function startPushgateway(timeoutMs = 20_000): Promise<TestPushgateway> {
  const dir = mkdtempSync(join(tmpdir(), 'sr-test-pushgateway-'));
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const file = join(dir, 'pushgateway.data');
    const child = spawn('prometheus-pushgateway', [`--web.listen-address=127.0.0.1:${port}`, `--persistence.file=${file}`], { stdio: 'ignore' });
    const gateway = { url: `http://127.0.0.1:${port}`, stop: () => stopAndRemove(child, dir) };
    if (await answers(child, gateway.url, file, timeoutMs)) return gateway;
    await stopped(child);
    if (attempt >= 5) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`prometheus-pushgateway did not answer on a free port within ${timeoutMs} ms, ${attempt} times`);
    }
  }
}

/**
 * Whether our own server is up and ready: the one answering must name our persistence file. One
 * that lost the port to another process exits, and the answer would be the other one's.
 */
async function answers(child: ChildProcess, url: string, file: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
    const flags = await fetch(`${url}/api/v1/status`).then(
      (response) => (response.ok ? (response.json() as Promise<{ data?: { flags?: Record<string, string> } }>) : null),
      () => null,
    );
    if (flags?.data?.flags?.['persistence.file'] === file) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

function stopped(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

async function stopAndRemove(child: ChildProcess, dir: string): Promise<void> {
  await stopped(child);
  rmSync(dir, { recursive: true, force: true });
}
