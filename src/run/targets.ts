/**
 * What a command refreshes: whole families (their batches, locked, with learned requests)
 * and requests, from the command line and a batch file's lines.
 */
import { UsageError } from '../lib/errors.js';
import { readSettingFile } from '../io/files.js';
import { parseBatchFile } from '../requests/batch-file.js';
import { FAMILIES, type Family, type StatsRequest } from '../requests/batches.js';
import { type ParsedTarget, parseTarget, type Target } from '../requests/request.js';

export interface RefreshTargets {
  readonly families: readonly Family[];
  readonly requests: readonly StatsRequest[];
  /** Parameters the requests hold that the API does not read, for a warning. */
  readonly ignored: ReadonlyArray<{ readonly target: string; readonly parameters: readonly string[] }>;
}

/** A batch file and the setting that named it (for messages). */
export interface BatchFile {
  readonly path: string;
  readonly source: string;
}

/**
 * Resolves command-line targets and a batch file's lines; throws UsageError (exit 2) on any
 * bad one. When the command line names families, the file adds only targets of those
 * families: each CronJob (or scheduled family) can mount the same file and refresh its own
 * part of it, not everyone's.
 */
export function resolveTargets(args: readonly string[], batchFile: BatchFile | null): RefreshTargets {
  const given = args.map((arg) => parseTarget(arg));
  // A regular file only: a FIFO or a device would be read for ever (src/io/files.ts).
  const fromFile = batchFile ? parseBatchFile(readSettingFile(batchFile.path, batchFile.source), batchFile.path).map(({ target }) => target) : [];
  const named = new Set(given.flatMap(familiesOf));
  const parsed = [...given, ...(given.length === 0 ? fromFile : fromFile.flatMap((target) => restrictTo(target, named)))];
  if (parsed.length === 0) {
    throw new UsageError(
      `nothing to refresh: give ${FAMILIES.join(', ')} or all, a request such as 'executions?period=last_week', or --batch-file`,
    );
  }
  const families = new Set(parsed.flatMap((target) => (target.kind === 'families' ? target.families : [])));
  return {
    families: FAMILIES.filter((family) => families.has(family)),
    requests: parsed.flatMap((target) => (target.kind === 'request' ? [target.request] : [])),
    ignored: parsed.flatMap((target) =>
      target.kind === 'request' && target.ignored?.length ? [{ target: target.text, parameters: target.ignored }] : [],
    ),
  };
}

function familiesOf(target: Target): readonly Family[] {
  return target.kind === 'families' ? target.families : [target.request.family];
}

/** The part of a target that belongs to the named families (none, some, or all of it). */
function restrictTo(target: ParsedTarget, named: ReadonlySet<Family>): ParsedTarget[] {
  if (target.kind === 'request') return named.has(target.request.family) ? [target] : [];
  const families = target.families.filter((family) => named.has(family));
  return families.length > 0 ? [{ kind: 'families', families }] : [];
}
