/**
 * Whether the built CLI accepts a deployment's command line: it is run with the workload's
 * arguments and environment, its connection strings pointing at a closed port. Everything
 * the CLI checks before it connects (command, flags and their values, variables) is then
 * checked for real: exit 2 is a rejection, and an exit after trying to connect (3, or 0 for
 * `--best-effort`) means the command line was accepted. `--help` would not do: the CLI
 * prints help and exits 0 whatever else the line holds (`schedul --help`).
 */
import { EXIT } from '../../src/lib/errors.js';
import { runCli } from '../helpers/cli.js';

/** Nothing listens on port 1: a connection is refused at once. */
const CLOSED = { DATABASE_URL: 'postgres://stats_refresh@127.0.0.1:1/trendsearth', REDIS_URL: 'redis://127.0.0.1:1/0' };

/**
 * Why the CLI refuses `args` with `env` (its one-line message), or null when it accepts them.
 * The connection strings are replaced by CLOSED and the wait for the services is cut to 1 s,
 * so each call ends within seconds.
 */
export async function cliRefusal(args: readonly string[], env: Readonly<Record<string, string>> = {}): Promise<string | null> {
  const run = await runCli(args, { ...env, ...CLOSED, STATS_REFRESH_WAIT_TIMEOUT: '1' });
  if (run.code === EXIT.USAGE) return run.messages.join(' ') || `exit 2: ${run.stderr.trim()}`;
  const triedToConnect = /unreachable/.test(run.stderr);
  if ((run.code === EXIT.UNREACHABLE || run.code === EXIT.OK) && triedToConnect) return null;
  return `exit ${run.code}${run.signal ? ` (${run.signal})` : ''} without trying to connect: ${run.stderr.trim().slice(-400)}`;
}
