/**
 * The Dockerfile's rules, checked on its parse tree (no Docker engine here):
 * multi-stage, every FROM pinned to an exact Node 24 (current LTS) version, the one CI
 * runs the suite on, within package.json's engines; a non-root numeric USER,
 * the CLI as exec-form ENTRYPOINT, nothing installed in the runtime stage (the bundle
 * holds every dependency), only package.json and dist/ in it, NODE_ENV=production, and a .dockerignore
 * that keeps dependencies, history, tests, builds and secrets out of the context.
 *
 * Each rule is a function returning problems, run on the real files and on broken
 * variants, so a rule that never fires would show up here.
 * scripts/image-check.sh then proves the runtime stage's contents actually run.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  type DockerStage,
  type ParsedDockerfile,
  PROJECT_ROOT,
  containerPath,
  finalStage,
  instructionsOf,
  isIgnored,
  parseDockerfile,
  parseDockerignore,
} from './dockerfile-model.js';

const DOCKERFILE = readFileSync(`${PROJECT_ROOT}/Dockerfile`, 'utf8');
const DOCKERIGNORE = readFileSync(`${PROJECT_ROOT}/.dockerignore`, 'utf8');
const PACKAGE = JSON.parse(readFileSync(`${PROJECT_ROOT}/package.json`, 'utf8')) as {
  bin: Record<string, string>;
  engines: { node: string };
};

/** An exact Node release (major.minor.patch) on a named Debian variant: no floating tags. */
const EXACT_NODE_TAG = /^(?<major>\d+)\.(?<minor>\d+)\.(?<patch>\d+)-(?:bookworm|bookworm-slim|trixie|trixie-slim)$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
/** The image's Node.js major: the current LTS line (20 reached its end of life on 2026-04-30). */
const IMAGE_NODE_MAJOR = 24;
/** The exact Node.js version .ci/run runs the whole suite on a second time. */
const CI_NODE_VERSION = /^NODE24_VERSION=(\d+\.\d+\.\d+)$/m.exec(readFileSync(`${PROJECT_ROOT}/.ci/run`, 'utf8'))?.[1];

function stageDir(stage: DockerStage): string {
  const workdirs = instructionsOf(stage, 'WORKDIR');
  return workdirs.at(-1)?.args[0] ?? '/';
}


function minimumNode(engines: string): [number, number] {
  const match = /^>=\s*(\d+)\.(\d+)/.exec(engines);
  if (!match) throw new Error(`package.json engines.node ${engines} is not ">=X.Y"`);
  return [Number(match[1]), Number(match[2])];
}

function fromProblems(parsed: ParsedDockerfile): string[] {
  const problems: string[] = [];
  if (parsed.stages.length < 2) problems.push('not multi-stage: one FROM');
  const names = new Set<string>();
  const [minMajor, minMinor] = minimumNode(PACKAGE.engines.node);
  for (const stage of parsed.stages) {
    const where = `FROM at line ${stage.from.line}`;
    if (!stage.name) problems.push(`${where}: stage has no name (FROM ... AS name)`);
    else names.add(stage.name.toLowerCase());
    if (stage.imageName !== null && names.has(stage.imageName.toLowerCase()) && stage.imageName !== stage.name) {
      // FROM <earlier stage>: pinned through that stage.
      continue;
    }
    if (stage.imageName !== 'node') problems.push(`${where}: base is ${stage.image}, expected the official node image`);
    const tag = stage.tag ? EXACT_NODE_TAG.exec(stage.tag) : null;
    if (!tag?.groups) {
      problems.push(`${where}: ${stage.image} is not pinned to an exact version tag (e.g. 24.22.3-bookworm-slim)`);
      continue;
    }
    const major = Number(tag.groups.major);
    const minor = Number(tag.groups.minor);
    if (major !== IMAGE_NODE_MAJOR) problems.push(`${where}: Node ${major}, the image runs Node ${IMAGE_NODE_MAJOR} (current LTS)`);
    const version = `${major}.${minor}.${tag.groups.patch}`;
    if (version !== CI_NODE_VERSION) problems.push(`${where}: Node ${version}, but CI tests on ${CI_NODE_VERSION ?? '(no NODE24_VERSION in .ci/run)'}`);
    if (major < minMajor || (major === minMajor && minor < minMinor)) {
      problems.push(`${where}: Node ${stage.tag} is older than engines.node ${PACKAGE.engines.node}`);
    }
    if (stage.digest !== null && !DIGEST.test(stage.digest)) problems.push(`${where}: malformed digest ${stage.digest}`);
  }
  const bases = new Set(parsed.stages.map((stage) => stage.image));
  if (bases.size > 1) problems.push(`stages use different bases: ${[...bases].join(', ')}`);
  return problems;
}

function userProblems(parsed: ParsedDockerfile): string[] {
  const stage = finalStage(parsed);
  const users = instructionsOf(stage, 'USER');
  const last = users.at(-1);
  if (!last) return ['final stage has no USER: it would run as root'];
  const match = /^(\d+)(?::(\d+))?$/.exec(last.args.join(' '));
  if (!match) return [`final USER ${last.args.join(' ')} is not numeric (uid[:gid]): runAsNonRoot cannot verify a name`];
  const problems: string[] = [];
  if (Number(match[1]) === 0) problems.push('final USER is uid 0 (root)');
  if (match[2] !== undefined && Number(match[2]) === 0) problems.push('final USER has gid 0 (root group)');
  const lastIndex = stage.instructions.indexOf(last);
  for (const later of stage.instructions.slice(lastIndex + 1)) {
    if (later.keyword === 'USER') continue;
    if (['RUN', 'COPY', 'ADD'].includes(later.keyword)) {
      problems.push(`line ${later.line}: ${later.keyword} after USER (keep files root-owned: USER comes last)`);
    }
  }
  return problems;
}

function entrypointProblems(parsed: ParsedDockerfile): string[] {
  const stage = finalStage(parsed);
  const entrypoint = instructionsOf(stage, 'ENTRYPOINT').at(-1);
  if (!entrypoint) return ['final stage has no ENTRYPOINT'];
  if (!entrypoint.exec) return [`line ${entrypoint.line}: ENTRYPOINT is in shell form; use exec form ["node", ".../dist/cli.js"]`];
  const [program, ...rest] = entrypoint.exec;
  const problems: string[] = [];
  if (program !== 'node') problems.push(`ENTRYPOINT runs ${program}, expected node`);
  const script = rest.filter((arg) => !arg.startsWith('-'));
  const bin = PACKAGE.bin['stats-refresh'];
  if (!bin) return ['package.json has no bin stats-refresh'];
  const expected = containerPath(stageDir(stage), bin);
  if (script.length !== 1 || containerPath(stageDir(stage), script[0]!) !== expected) {
    problems.push(`ENTRYPOINT script is ${script.join(' ')}, expected the CLI ${expected} (package.json bin)`);
  }
  return problems;
}

function runtimeInstallProblems(parsed: ParsedDockerfile): string[] {
  const stage = finalStage(parsed);
  const problems: string[] = [];
  // dist/ is one bundle with its dependencies inside: installing packages would only add weight.
  for (const run of instructionsOf(stage, 'RUN')) {
    if (/\bnpm\s+(?:ci|install|i|add)\b/.test(run.content)) problems.push(`line ${run.line}: the final stage installs packages; the bundle needs none`);
  }
  if (instructionsOf(stage, 'ADD').length > 0) problems.push('final stage uses ADD; use COPY');
  const env = Object.assign({}, ...instructionsOf(stage, 'ENV').map((instruction) => instruction.env)) as Record<string, string>;
  if (env.NODE_ENV !== 'production') problems.push(`final stage NODE_ENV is ${env.NODE_ENV ?? 'unset'}, expected production`);
  return problems;
}

/** What the final stage copies in: package.json from the context, dist from the build stage. */
function runtimeCopyProblems(parsed: ParsedDockerfile): string[] {
  const stage = finalStage(parsed);
  const problems: string[] = [];
  const fromContext: string[] = [];
  const fromStages: string[] = [];
  for (const copy of instructionsOf(stage, 'COPY')) {
    const sources = copy.args.slice(0, -1);
    const from = copy.flags.from;
    if (from === undefined) {
      fromContext.push(...sources);
      continue;
    }
    const source = parsed.stages.find((candidate) => candidate.name === from);
    if (!source) {
      problems.push(`line ${copy.line}: COPY --from=${from} is not a stage of this Dockerfile`);
      continue;
    }
    for (const path of sources) fromStages.push(containerPath(stageDir(source), path).slice(stageDir(source).length).replace(/^\//, ''));
  }
  const allowedContext = new Set(['package.json']);
  for (const path of fromContext) {
    if (!allowedContext.has(path.replace(/^\.\//, ''))) problems.push(`final stage copies ${path} from the context (only package.json)`);
  }
  for (const path of fromStages) {
    if (path.replace(/\/$/, '') !== 'dist') problems.push(`final stage copies ${path} from a stage (only dist)`);
  }
  if (!fromStages.some((path) => path.replace(/\/$/, '') === 'dist')) problems.push('final stage does not copy dist from the build stage');
  for (const file of allowedContext) {
    if (!fromContext.some((path) => path.replace(/^\.\//, '') === file)) problems.push(`final stage does not copy ${file}`);
  }
  return problems;
}

function buildStageProblems(parsed: ParsedDockerfile): string[] {
  const build = parsed.stages.slice(0, -1).find((stage) => instructionsOf(stage, 'RUN').some((run) => /\bnpm run build\b/.test(run.content)));
  if (!build) return ['no earlier stage runs npm run build'];
  const problems: string[] = [];
  const install = instructionsOf(build, 'RUN').find((run) => /\bnpm\s+ci\b/.test(run.content));
  if (!install) problems.push('build stage does not npm ci');
  else if (/--omit[= ]dev|--production/.test(install.content)) problems.push('build stage omits dev dependencies (TypeScript is one)');
  const copied = instructionsOf(build, 'COPY').flatMap((copy) => copy.args.slice(0, -1).map((path) => path.replace(/^\.\//, '').replace(/\/$/, '')));
  for (const needed of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'tools/build.mjs', 'src']) {
    if (!copied.includes(needed)) problems.push(`build stage does not copy ${needed}`);
  }
  if (copied.includes('.')) problems.push('build stage copies the whole context (COPY . .)');
  return problems;
}

function allProblems(dockerfile: string): string[] {
  const parsed = parseDockerfile(dockerfile);
  return [
    ...fromProblems(parsed),
    ...userProblems(parsed),
    ...entrypointProblems(parsed),
    ...runtimeInstallProblems(parsed),
    ...runtimeCopyProblems(parsed),
    ...buildStageProblems(parsed),
  ];
}

describe('Dockerfile', () => {
  const parsed = parseDockerfile(DOCKERFILE);

  it('parses into named stages, the last being the runtime', () => {
    expect(parsed.stages.map((stage) => stage.name)).toEqual(['build', 'runtime']);
  });

  it('is multi-stage with every FROM pinned to the same exact Node 24 version, the one CI tests on (a digest, if any, well formed)', () => {
    expect(fromProblems(parsed)).toEqual([]);
    for (const stage of parsed.stages) {
      expect(stage.tag).toMatch(EXACT_NODE_TAG);
      if (stage.digest !== null) expect(stage.digest).toMatch(DIGEST);
    }
  });

  it('runs as a numeric non-root user in the final stage', () => {
    expect(userProblems(parsed)).toEqual([]);
  });

  it('has the CLI (package.json bin) as exec-form ENTRYPOINT', () => {
    expect(entrypointProblems(parsed)).toEqual([]);
    expect(instructionsOf(finalStage(parsed), 'ENTRYPOINT').at(-1)?.exec).toEqual(['node', '/app/dist/cli.js']);
  });

  it('installs nothing in the runtime stage (the bundle holds its dependencies), with NODE_ENV=production', () => {
    expect(runtimeInstallProblems(parsed)).toEqual([]);
  });

  it('copies only package.json and dist into the runtime stage', () => {
    expect(runtimeCopyProblems(parsed)).toEqual([]);
  });

  it('compiles in a build stage that has the dev dependencies and the sources', () => {
    expect(buildStageProblems(parsed)).toEqual([]);
  });

  it.each([
    ['a single stage', (text: string) => text.slice(text.indexOf('\nFROM ', text.indexOf(' AS build')) + 1), /not multi-stage/],
    ['a floating tag', (text: string) => text.replaceAll(/node:\d+\.\d+\.\d+-bookworm-slim(@sha256:[0-9a-f]+)?/g, 'node:24-bookworm-slim'), /not pinned to an exact version/],
    ['Node 20 (end of life)', (text: string) => text.replaceAll(/node:\d+\.\d+\.\d+-bookworm-slim/g, 'node:20.20.2-bookworm-slim'), /Node 20, the image runs Node 24/],
    ['a Node 24 other than the one CI tests on', (text: string) => text.replaceAll(/node:\d+\.\d+\.\d+-bookworm-slim/g, 'node:24.0.0-bookworm-slim'), /Node 24\.0\.0, but CI tests on/],
    ['latest', (text: string) => text.replace(/node:[^ ]+ AS build/, 'node:latest AS build'), /not pinned/],
    ['a named user', (text: string) => text.replace('USER 1000:1000', 'USER node'), /not numeric/],
    ['root', (text: string) => text.replace('USER 1000:1000', 'USER 0'), /uid 0/],
    ['no user', (text: string) => text.replace('USER 1000:1000\n', ''), /run as root/],
    ['a shell-form entrypoint', (text: string) => text.replace(/ENTRYPOINT .*/, 'ENTRYPOINT node /app/dist/cli.js'), /shell form/],
    ['another entrypoint', (text: string) => text.replace('"/app/dist/cli.js"', '"/app/dist/refresh.js"'), /expected the CLI/],
    ['an install in the runtime', (text: string) => text.replace('COPY package.json ./\n', 'COPY package.json package-lock.json ./\nRUN npm ci --omit=dev\n'), /installs packages; the bundle needs none/],
    ['the lock in the runtime', (text: string) => text.replace('COPY package.json ./\n', 'COPY package.json package-lock.json ./\n'), /copies package-lock.json from the context/],
    ['no build script in the build stage', (text: string) => text.replace('COPY tools/build.mjs ./tools/\n', ''), /does not copy tools\/build.mjs/],
    ['no NODE_ENV', (text: string) => text.replace('ENV NODE_ENV=production\n', ''), /NODE_ENV is unset/],
    ['the whole context', (text: string) => text.replace('COPY --from=build /app/dist ./dist', 'COPY --from=build /app/dist ./dist\nCOPY . .'), /copies \. from the context|after USER/],
    ['sources in the runtime', (text: string) => text.replace('COPY --from=build /app/dist ./dist', 'COPY --from=build /app/dist ./dist\nCOPY --from=build /app/src ./src'), /copies src from a stage/],
  ])('rejects %s', (_name, mutate, expected) => {
    const broken = mutate(DOCKERFILE);
    expect(broken).not.toBe(DOCKERFILE);
    expect(allProblems(broken).join('\n')).toMatch(expected);
  });
});

describe('.dockerignore', () => {
  const rules = parseDockerignore(DOCKERIGNORE);

  it.each([
    'node_modules',
    'node_modules/pg/package.json',
    'tools/node_modules/x/index.js',
    '.git',
    '.git/HEAD',
    'test',
    'test/unit/keys.test.ts',
    'dist',
    'dist/cli.js',
    '.env',
    '.env.local',
    '.env.production',
    'src/.env',
    'k8s/secret.example.yaml',
  ])('keeps %s out of the build context', (path) => {
    expect(isIgnored(rules, path)).toBe(true);
  });

  it('keeps in everything the Dockerfile copies from the context', () => {
    const parsed = parseDockerfile(DOCKERFILE);
    const copied = parsed.stages.flatMap((stage) =>
      instructionsOf(stage, 'COPY')
        .filter((copy) => copy.flags.from === undefined)
        .flatMap((copy) => copy.args.slice(0, -1)),
    );
    expect(copied).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'tools/build.mjs', 'src']));
    for (const path of [...copied, 'src/cli.ts', 'src/commands/status.ts']) {
      expect(isIgnored(rules, path), path).toBe(false);
    }
  });

  it('reads .dockerignore syntax as the builder does', () => {
    const sample = parseDockerignore('# comment\n/build\n*.md\n!README.md\n**/*.tmp\ndocs/?.txt\n');
    expect(isIgnored(sample, 'build/x')).toBe(true);
    expect(isIgnored(sample, 'src/build')).toBe(false);
    expect(isIgnored(sample, 'CHANGES.md')).toBe(true);
    expect(isIgnored(sample, 'README.md')).toBe(false);
    expect(isIgnored(sample, 'docs/CHANGES.md')).toBe(false);
    expect(isIgnored(sample, 'a/b/c.tmp')).toBe(true);
    expect(isIgnored(sample, 'docs/a.txt')).toBe(true);
    expect(isIgnored(sample, 'docs/ab.txt')).toBe(false);
  });
});
