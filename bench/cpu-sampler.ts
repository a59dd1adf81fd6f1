/**
 * CPU time of a child process and of the PostgreSQL backends serving one database, sampled
 * from /proc (Linux, PostgreSQL on this machine, permission to read its processes): robust to
 * other load on the machine, unlike wall time. Used by bench/run.ts (one run) and
 * bench/freshness.ts (a long-running `schedule`). Processes that exit between two samples lose
 * their last few milliseconds, so the figures are slight underestimates.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { processCpuMs } from './process-cpu.js';

function commandLine(pid: string): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/**
 * When a process started (clock ticks since boot, /proc/<pid>/stat's 22nd field), or null when
 * it is gone: with the pid, it names the process even after its pid is reused (pid_max is
 * often 32768, and a busy machine goes round it in minutes).
 */
function startTime(pid: string): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** The peak resident set size (MiB) of a running process (VmHWM), or null when it is gone. */
export function peakRssMib(pid: number): number | null {
  try {
    const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** CPU used since the sampler started, in milliseconds. */
export interface CpuTotals {
  /** The PostgreSQL processes serving the database (backends and their parallel workers). */
  serverCpuMs: number;
  /** The child's main thread (its JavaScript). */
  cliCpuMs: number;
  /** Every thread of the child (V8's compiler and GC helpers, libuv's pool too). */
  cliThreadsCpuMs: number;
}

export interface CpuSampler {
  /** The totals so far, after one more sample. */
  read(): CpuTotals;
  /** Stops sampling; the totals after a last sample. */
  stop(): CpuTotals;
}

export interface CpuSamplerOptions {
  /** How often to sample (default 20 ms: short runs). */
  readonly intervalMs?: number;
  /** Backend pids not to count (the harness's own sessions on the database); read at every sample. */
  readonly excludePids?: ReadonlySet<number>;
}

/**
 * Follows the CPU time of a child process and of the PostgreSQL processes serving database
 * `name` (backends, and parallel workers of those backends) until stopped.
 */
export function startCpuSampler(childPid: number, name: string, options: CpuSamplerOptions = {}): CpuSampler {
  const exclude = options.excludePids ?? new Set<number>();
  /** CPU by process, as `pid/start time`. */
  const seen = new Map<string, number>();
  const backends = new Set<string>();
  /** Processes whose command line is not PostgreSQL's at all: never ours, not read again. */
  const foreign = new Set<string>();
  let child = 0;
  /** Every thread of the child, by thread id. */
  const childThreads = new Map<string, number>();
  const sample = () => {
    child = processCpuMs(childPid) ?? child;
    try {
      for (const tid of readdirSync(`/proc/${childPid}/task`)) {
        const cpu = processCpuMs(`${childPid}/task/${tid}`);
        if (cpu !== null) childThreads.set(tid, cpu);
      }
    } catch {
      // The child has exited: its threads' last figures stand.
    }
    let pids: string[];
    try {
      pids = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
    } catch {
      return;
    }
    for (const pid of pids) {
      const start = startTime(pid);
      if (start === null) continue;
      const identity = `${pid}/${start}`;
      if (foreign.has(identity)) continue;
      if (!seen.has(identity)) {
        const line = commandLine(pid);
        // A backend just forked still shows the postmaster's command line: look again next time.
        if (!line.includes('postgres')) foreign.add(identity);
        if (!line.startsWith('postgres: ')) continue;
        const worker = /parallel worker for PID (\d+)/.exec(line);
        if (!(line.includes(` ${name} `) || (worker && backends.has(worker[1]!)))) continue;
        if (!worker) backends.add(pid);
      }
      const cpu = processCpuMs(pid);
      // A pid reused between the two reads is left for the next sample.
      if (cpu !== null && startTime(pid) === start) seen.set(identity, cpu);
    }
  };
  const baseline = new Map<string, number>();
  sample();
  for (const [identity, cpu] of seen) baseline.set(identity, cpu); // processes already running (none, normally)
  const timer = setInterval(sample, options.intervalMs ?? 20);
  const totals = (): CpuTotals => {
    sample();
    let server = 0;
    for (const [identity, cpu] of seen) {
      if (!exclude.has(Number(identity.split('/')[0]))) server += cpu - (baseline.get(identity) ?? 0);
    }
    return { serverCpuMs: server, cliCpuMs: child, cliThreadsCpuMs: [...childThreads.values()].reduce((sum, cpu) => sum + cpu, 0) };
  };
  return {
    read: totals,
    stop() {
      clearInterval(timer);
      return totals();
    },
  };
}
