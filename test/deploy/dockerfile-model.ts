/**
 * The Dockerfile and .dockerignore as plain data, for the deploy tests and for
 * scripts/image-check.sh (through reproduce-image.ts). Parsing is dockerfile-ast's; this
 * module only flattens its tree into stages and instructions.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DockerfileParser, type Env, type From, type Instruction, JSONInstruction, ModifiableInstruction } from 'dockerfile-ast';

export const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface DockerInstruction {
  /** Upper case: FROM, RUN, COPY, ... */
  readonly keyword: string;
  /** Whitespace-separated arguments, flags excluded, quotes kept as written. */
  readonly args: readonly string[];
  /** `--name=value` flags (COPY --from, --chown, ...). */
  readonly flags: Readonly<Record<string, string | null>>;
  /** The exec (JSON array) form's strings, or null for the shell form. */
  readonly exec: readonly string[] | null;
  /** The arguments as one string with line continuations joined (what a shell form runs). */
  readonly content: string;
  /** ENV's name/value pairs. */
  readonly env: Readonly<Record<string, string>>;
  /** 1-based line, for messages. */
  readonly line: number;
}

export interface DockerStage {
  readonly name: string | null;
  /** Image as written in FROM, e.g. node:20.20.2-bookworm-slim@sha256:... */
  readonly image: string;
  readonly imageName: string | null;
  readonly tag: string | null;
  readonly digest: string | null;
  readonly from: DockerInstruction;
  /** The stage's instructions after its FROM. */
  readonly instructions: readonly DockerInstruction[];
}

export interface ParsedDockerfile {
  readonly directives: Readonly<Record<string, string>>;
  readonly stages: readonly DockerStage[];
}

function flatten(instruction: Instruction): DockerInstruction {
  const flags: Record<string, string | null> = {};
  if (instruction instanceof ModifiableInstruction) {
    for (const flag of instruction.getFlags()) flags[flag.getName()] = flag.getValue();
  }
  const env: Record<string, string> = {};
  if (instruction.getKeyword() === 'ENV') {
    for (const property of (instruction as Env).getProperties()) env[property.getName()] = property.getValue() ?? '';
  }
  const exec =
    instruction instanceof JSONInstruction && instruction.getJSONStrings().length > 0
      ? instruction.getJSONStrings().map((value) => value.getJSONValue())
      : null;
  return {
    keyword: instruction.getKeyword().toUpperCase(),
    args: instruction.getArguments().map((argument) => argument.getValue()),
    flags,
    exec,
    content: instruction.getArgumentsContent() ?? '',
    env,
    line: instruction.getRange().start.line + 1,
  };
}

export function parseDockerfile(text: string): ParsedDockerfile {
  const dockerfile = DockerfileParser.parse(text);
  const directives: Record<string, string> = {};
  for (const directive of dockerfile.getDirectives()) directives[directive.getName()] = directive.getValue();
  const stages: DockerStage[] = [];
  let current: { from: From; flat: DockerInstruction; instructions: DockerInstruction[] } | null = null;
  const close = () => {
    if (!current) return;
    const { from, flat, instructions } = current;
    stages.push({
      name: from.getBuildStage(),
      image: from.getImage() ?? '',
      imageName: from.getImageName(),
      tag: from.getImageTag(),
      digest: from.getImageDigest(),
      from: flat,
      instructions,
    });
  };
  for (const instruction of dockerfile.getInstructions()) {
    const flat = flatten(instruction);
    if (flat.keyword === 'FROM') {
      close();
      current = { from: instruction as From, flat, instructions: [] };
    } else if (current) {
      current.instructions.push(flat);
    } else if (flat.keyword !== 'ARG') {
      throw new Error(`Dockerfile line ${flat.line}: ${flat.keyword} before the first FROM`);
    }
  }
  close();
  return { directives, stages };
}

export function readDockerfile(root = PROJECT_ROOT): ParsedDockerfile {
  return parseDockerfile(readFileSync(`${root}/Dockerfile`, 'utf8'));
}

/** The stage an image build ends with (no --target): the last one. */
export function finalStage(parsed: ParsedDockerfile): DockerStage {
  const stage = parsed.stages.at(-1);
  if (!stage) throw new Error('Dockerfile has no FROM');
  return stage;
}

export function instructionsOf(stage: DockerStage, keyword: string): DockerInstruction[] {
  return stage.instructions.filter((instruction) => instruction.keyword === keyword);
}

// ---- .dockerignore ---------------------------------------------------------------------

interface IgnoreRule {
  readonly pattern: string;
  readonly negate: boolean;
  readonly regex: RegExp;
}

/** Go filepath.Match syntax plus `**`, as the Docker builder reads .dockerignore. */
function patternToRegex(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i]!;
    if (char === '*') {
      if (pattern[i + 1] === '*') {
        // `**/` matches zero or more directories; a trailing `**` anything below.
        i++;
        if (pattern[i + 1] === '/') {
          i++;
          source += '(?:.*/)?';
        } else {
          source += '.*';
        }
      } else {
        source += '[^/]*';
      }
    } else if (char === '?') {
      source += '[^/]';
    } else if (char === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end === -1) throw new Error(`.dockerignore: unclosed [ in ${pattern}`);
      source += `[${pattern.slice(i + 1, end)}]`;
      i = end;
    } else if (char === '\\') {
      i++;
      source += (pattern[i] ?? '').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    } else {
      source += char.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`);
}

function cleanPattern(pattern: string): string {
  return pattern
    .split('/')
    .filter((part) => part !== '' && part !== '.')
    .join('/');
}

export function parseDockerignore(text: string): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const negate = line.startsWith('!');
    const pattern = cleanPattern(negate ? line.slice(1).trim() : line);
    if (pattern === '') continue;
    rules.push({ pattern, negate, regex: patternToRegex(pattern) });
  }
  return rules;
}

/**
 * Whether the builder leaves `path` (relative to the context, `/`-separated) out of the
 * context: the last rule matching the path or one of its parent folders decides.
 */
export function isIgnored(rules: readonly IgnoreRule[], path: string): boolean {
  const parts = path.split('/').filter(Boolean);
  const candidates = parts.map((_, index) => parts.slice(0, index + 1).join('/'));
  let ignored = false;
  for (const rule of rules) {
    if (candidates.some((candidate) => rule.regex.test(candidate))) ignored = !rule.negate;
  }
  return ignored;
}

export function readDockerignore(root = PROJECT_ROOT): IgnoreRule[] {
  return parseDockerignore(readFileSync(`${root}/.dockerignore`, 'utf8'));
}

/** `path` as the container sees it from `dir` (its WORKDIR): absolute, `.` and `..` resolved. */
export function containerPath(dir: string, path: string): string {
  const joined = path.startsWith('/') ? path : `${dir.replace(/\/$/, '')}/${path}`;
  const parts: string[] = [];
  for (const part of joined.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return `/${parts.join('/')}`;
}
