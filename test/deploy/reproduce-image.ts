/**
 * Rebuilds the Dockerfile's stages as folders, without a Docker engine, for
 * scripts/image-check.sh:
 *
 *   node --import tsx test/deploy/reproduce-image.ts --out DIR
 *
 * Each stage gets DIR/<stage>/ standing for its filesystem root. WORKDIR, ENV, COPY
 * (from the context, honouring .dockerignore, or --from an earlier stage) and RUN (shell
 * form, run with `sh -c` in the stage's WORKDIR with the stage's ENV) are carried out in
 * order; USER, ENTRYPOINT and CMD are recorded. The base image's own files are not
 * reproduced: RUN uses this machine's node and npm, which must be the base's version
 * (a mismatch is reported). On success prints one JSON line describing the final stage:
 * {"stage","root","workdir","user","env","entrypoint","cmd","node_version","base_version"}
 * where `workdir` and every absolute path in `entrypoint` are mapped into `root`.
 *
 * Anything it cannot reproduce faithfully (ARG or $variables, ADD, absolute paths in RUN,
 * RUN flags other than a cache mount, heredocs) stops it with exit 1: the Dockerfile
 * then needs a closer look, not a looser check.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { type DockerStage, PROJECT_ROOT, containerPath, isIgnored, readDockerfile, readDockerignore } from './dockerfile-model.js';

class Unreproducible extends Error {}


interface StageState {
  readonly name: string;
  readonly root: string;
  workdir: string;
  env: Record<string, string>;
  user: string | null;
  entrypoint: string[] | null;
  cmd: string[] | null;
}

function hostPath(stage: StageState, path: string): string {
  return join(stage.root, containerPath(stage.workdir, path));
}

/** Docker's COPY: a folder's contents go into the destination; files into a folder destination or onto the path. */
function copyInto(source: string, destination: string, toDirectory: boolean, filter: (path: string) => boolean): void {
  if (!existsSync(source)) throw new Unreproducible(`COPY source ${source} does not exist`);
  if (statSync(source).isDirectory()) {
    mkdirSync(destination, { recursive: true });
    cpSync(source, destination, { recursive: true, filter, verbatimSymlinks: true });
    return;
  }
  const target = toDirectory || (existsSync(destination) && statSync(destination).isDirectory()) ? join(destination, basename(source)) : destination;
  mkdirSync(toDirectory ? destination : join(target, '..'), { recursive: true });
  cpSync(source, target);
}

function childEnv(stageEnv: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    // What npm or the caller set for themselves is not part of the image.
    if (name.startsWith('npm_') || name === 'NODE_ENV' || name === 'NODE_OPTIONS' || name === 'INIT_CWD') continue;
    env[name] = value;
  }
  return { ...env, ...stageEnv };
}

function reproduceStage(stage: DockerStage, out: string, done: ReadonlyMap<string, StageState>): StageState {
  const name = stage.name ?? `stage${done.size}`;
  const state: StageState = { name, root: join(out, name), workdir: '/', env: {}, user: null, entrypoint: null, cmd: null };
  mkdirSync(state.root, { recursive: true });
  const ignore = readDockerignore();
  const contextFilter = (path: string) => {
    const inContext = relative(PROJECT_ROOT, path).split('\\').join('/');
    return inContext === '' || !isIgnored(ignore, inContext);
  };
  for (const instruction of stage.instructions) {
    const where = `Dockerfile line ${instruction.line} (${instruction.keyword})`;
    if (instruction.content.includes('$') && instruction.keyword !== 'LABEL') {
      throw new Unreproducible(`${where}: variables are not reproduced`);
    }
    switch (instruction.keyword) {
      case 'WORKDIR': {
        state.workdir = containerPath(state.workdir, instruction.args[0] ?? '/');
        mkdirSync(join(state.root, state.workdir), { recursive: true });
        break;
      }
      case 'ENV':
        Object.assign(state.env, instruction.env);
        break;
      case 'COPY': {
        const sources = instruction.args.slice(0, -1);
        const destination = instruction.args.at(-1);
        if (!destination || sources.length === 0) throw new Unreproducible(`${where}: needs a source and a destination`);
        const unknownFlags = Object.keys(instruction.flags).filter((flag) => flag !== 'from' && flag !== 'chown' && flag !== 'chmod');
        if (unknownFlags.length > 0) throw new Unreproducible(`${where}: flags ${unknownFlags.join(', ')} are not reproduced`);
        const toDirectory = sources.length > 1 || destination.endsWith('/');
        const target = hostPath(state, destination);
        const from = instruction.flags.from;
        for (const source of sources) {
          if (from === undefined || from === null) {
            if (source.includes('*') || source.startsWith('/') || source.split('/').includes('..')) {
              throw new Unreproducible(`${where}: context path ${source} is not reproduced (no globs, no absolute or parent paths)`);
            }
            if (isIgnored(ignore, source.replace(/^\.\//, ''))) {
              throw new Unreproducible(`${where}: ${source} is excluded by .dockerignore, the build would fail`);
            }
            copyInto(join(PROJECT_ROOT, source), target, toDirectory, contextFilter);
          } else {
            const earlier = done.get(from);
            if (!earlier) throw new Unreproducible(`${where}: --from=${from} is not an earlier stage`);
            copyInto(hostPath(earlier, source), target, toDirectory, () => true);
          }
        }
        break;
      }
      case 'RUN': {
        if (instruction.exec) throw new Unreproducible(`${where}: exec-form RUN is not reproduced`);
        for (const [flag, value] of Object.entries(instruction.flags)) {
          if (!(flag === 'mount' && value?.startsWith('type=cache,'))) {
            throw new Unreproducible(`${where}: RUN --${flag} is not reproduced (a cache mount is)`);
          }
        }
        if (/(?:^|[\s=])\//.test(instruction.content) || instruction.content.includes('<<')) {
          throw new Unreproducible(`${where}: absolute paths or heredocs in RUN are not reproduced`);
        }
        process.stderr.write(`reproduce-image: [${name}] RUN ${instruction.content}\n`);
        const result = spawnSync('sh', ['-c', instruction.content], {
          cwd: join(state.root, state.workdir),
          env: childEnv(state.env),
          // The child's output goes to stderr: stdout carries only the final JSON line.
          stdio: ['ignore', 2, 2],
        });
        if (result.status !== 0) {
          throw new Error(`${where}: \`${instruction.content}\` failed (${result.signal ?? `exit ${result.status}`})`);
        }
        break;
      }
      case 'USER':
        state.user = instruction.args.join(' ');
        break;
      case 'ENTRYPOINT':
        if (!instruction.exec) throw new Unreproducible(`${where}: shell-form ENTRYPOINT is not reproduced`);
        state.entrypoint = [...instruction.exec];
        state.cmd = null; // Docker resets CMD when ENTRYPOINT is set
        break;
      case 'CMD':
        if (!instruction.exec) throw new Unreproducible(`${where}: shell-form CMD is not reproduced`);
        state.cmd = [...instruction.exec];
        break;
      case 'ADD':
      case 'ARG':
      case 'ONBUILD':
      case 'SHELL':
        throw new Unreproducible(`${where}: not reproduced`);
      default:
        // LABEL, EXPOSE, STOPSIGNAL, HEALTHCHECK, VOLUME: metadata only.
        break;
    }
  }
  return state;
}

function main(): number {
  const { values } = parseArgs({ options: { out: { type: 'string' } }, strict: true });
  if (!values.out) {
    process.stderr.write('usage: reproduce-image.ts --out DIR\n');
    return 2;
  }
  const out = values.out;
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const parsed = readDockerfile();
  const done = new Map<string, StageState>();
  let last: StageState | null = null;
  let baseVersion: string | null = null;
  for (const stage of parsed.stages) {
    baseVersion = /^(\d+\.\d+\.\d+)/.exec(stage.tag ?? '')?.[1] ?? baseVersion;
    last = reproduceStage(stage, out, done);
    done.set(last.name, last);
  }
  if (!last) throw new Unreproducible('Dockerfile has no stage');
  const final = last;
  const mapped = (final.entrypoint ?? []).map((arg) => (arg.startsWith('/') ? join(final.root, arg) : arg));
  process.stdout.write(
    `${JSON.stringify({
      stage: final.name,
      root: final.root,
      workdir: join(final.root, final.workdir),
      user: final.user,
      env: final.env,
      entrypoint: mapped,
      cmd: final.cmd,
      node_version: process.versions.node,
      base_version: baseVersion,
    })}\n`,
  );
  return 0;
}

try {
  process.exitCode = main();
} catch (error) {
  process.stderr.write(`reproduce-image: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
