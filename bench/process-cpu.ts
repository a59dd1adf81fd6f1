/**
 * CPU time of a process from /proc (Linux; PostgreSQL on this machine and permission to
 * read its processes): what the benches measure the database's cost with, robust to
 * other load on the machine.
 */
import { readFileSync } from 'node:fs';

/** CPU time (ms) a process (or `pid/task/tid`, a thread) has used so far, or null when it is gone or unreadable. */
export function processCpuMs(pid: number | string): number | null {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return null;
  }
}
