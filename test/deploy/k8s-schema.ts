/**
 * Offline validation of Kubernetes objects against the API's own schemas, as shipped by
 * the `kubernetes-models` package (generated from the Kubernetes OpenAPI definitions):
 *
 * - `validateSchema`: the package's compiled JSON-schema validators: types, enums,
 *   required fields, formats (int32, quantities, ...). They accept unknown fields.
 * - `unknownFieldErrors`: the package's TypeScript declarations of the same definitions,
 *   type-checked with TypeScript's excess-property check, which rejects any field the
 *   schema does not declare, at any depth (`kubectl apply --validate=strict` does the
 *   same). For patches the declared type is made deep-partial, so missing required
 *   fields are fine but unknown ones are not.
 *
 * TypeScript reports at least one error for an object with unknown fields (not always
 * every one when there are several in one object tree): enough to fail, then the next
 * shows once the first is fixed.
 */
import { dirname, join } from 'node:path';
import ts from 'typescript';
import { CronJob, Job } from 'kubernetes-models/batch/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { ConfigMap, Secret } from 'kubernetes-models/v1';
import { PROJECT_ROOT } from './paths.js';

export interface KindInfo {
  /** Module and interface in kubernetes-models holding the TypeScript declaration. */
  readonly module: string;
  readonly type: string;
  validate(object: Record<string, unknown>): void;
}

const KINDS: Readonly<Record<string, KindInfo>> = {
  'batch/v1 CronJob': { module: 'kubernetes-models/batch/v1/CronJob', type: 'ICronJob', validate: (object) => new CronJob(object as never).validate() },
  'batch/v1 Job': { module: 'kubernetes-models/batch/v1/Job', type: 'IJob', validate: (object) => new Job(object as never).validate() },
  'apps/v1 Deployment': { module: 'kubernetes-models/apps/v1/Deployment', type: 'IDeployment', validate: (object) => new Deployment(object as never).validate() },
  'v1 ConfigMap': { module: 'kubernetes-models/v1/ConfigMap', type: 'IConfigMap', validate: (object) => new ConfigMap(object as never).validate() },
  'v1 Secret': { module: 'kubernetes-models/v1/Secret', type: 'ISecret', validate: (object) => new Secret(object as never).validate() },
};

export function kindOf(object: Record<string, unknown>): string {
  return `${String(object.apiVersion)} ${String(object.kind)}`;
}

export function kindInfo(object: Record<string, unknown>): KindInfo {
  const info = KINDS[kindOf(object)];
  if (!info) throw new Error(`no schema for ${kindOf(object)} (known: ${Object.keys(KINDS).join(', ')})`);
  return info;
}

/** Throws with every schema error (types, enums, required fields, formats). */
export function validateSchema(object: Record<string, unknown>): void {
  kindInfo(object).validate(object);
}

export interface StrictInput {
  readonly id: string;
  readonly object: Record<string, unknown>;
  /** A strategic-merge patch: every field optional, none unknown. */
  readonly partial?: boolean;
}

const COMPILER_OPTIONS: ts.CompilerOptions = {
  strict: true,
  noEmit: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  skipLibCheck: true,
  types: [],
  lib: ['lib.es2022.d.ts'],
};

/** Virtual sources live beside this file, so `kubernetes-models` resolves from node_modules. */
const VIRTUAL_DIR = join(PROJECT_ROOT, 'test', 'deploy', '.virtual-k8s-check');

/** Unknown-field (and type) errors per input id; an id missing from the map has none. */
export function unknownFieldErrors(inputs: readonly StrictInput[]): Map<string, string[]> {
  const sources = new Map<string, { id: string; text: string }>();
  inputs.forEach((input, index) => {
    const info = kindInfo(input.object);
    const type = input.partial ? `DeepPartial<${info.type}>` : info.type;
    const text = [
      `import type { ${info.type} } from '${info.module}';`,
      'type DeepPartial<T> = T extends readonly (infer U)[] ? DeepPartial<U>[] : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;',
      `export const object: ${type} = ${JSON.stringify(input.object, null, 2)};`,
      '',
    ].join('\n');
    sources.set(join(VIRTUAL_DIR, `object${index}.ts`), { id: input.id, text });
  });
  const host = ts.createCompilerHost(COMPILER_OPTIONS);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const readFile = host.readFile.bind(host);
  host.getSourceFile = (fileName, languageVersion, ...rest) => {
    const virtual = sources.get(fileName);
    return virtual ? ts.createSourceFile(fileName, virtual.text, languageVersion, true) : getSourceFile(fileName, languageVersion, ...rest);
  };
  host.fileExists = (fileName) => sources.has(fileName) || fileExists(fileName);
  host.readFile = (fileName) => sources.get(fileName)?.text ?? readFile(fileName);
  host.directoryExists = (directory) => directory === VIRTUAL_DIR || ts.sys.directoryExists(directory);
  const program = ts.createProgram([...sources.keys()], COMPILER_OPTIONS, host);
  const errors = new Map<string, string[]>();
  for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
    const file = diagnostic.file?.fileName;
    const virtual = file ? sources.get(file) : undefined;
    const id = virtual?.id ?? `(setup: ${file ? dirname(file) : 'global'})`;
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
    const where =
      diagnostic.file && diagnostic.start !== undefined
        ? `line ${diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start).line + 1}: `
        : '';
    errors.set(id, [...(errors.get(id) ?? []), `${where}${message}`]);
  }
  return errors;
}
