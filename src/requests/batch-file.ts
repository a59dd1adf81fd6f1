/**
 * Batch files: one target a line (a family, `all`, or a request in the API's syntax);
 * blank lines and everything after `#` are ignored. A bad line names the file and line.
 */
import { UsageError } from '../lib/errors.js';
import { type ParsedTarget, parseTarget } from './request.js';

export interface FileTarget {
  readonly target: ParsedTarget;
  readonly line: number;
}

/** The targets of a batch file's text; `name` is how errors refer to the file. */
export function parseBatchFile(text: string, name: string): FileTarget[] {
  const targets: FileTarget[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') return;
    try {
      targets.push({ target: parseTarget(line), line: index + 1 });
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      throw new UsageError(`${name}:${index + 1}: ${error.message}`);
    }
  });
  return targets;
}
