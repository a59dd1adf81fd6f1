/**
 * Every YAML file under k8s/, parsed (the `yaml` package, duplicate keys rejected), and
 * classified: kustomizations, patches (files a kustomization patches with, and
 * k8s/patches/), and resources (everything else).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import { parseAllDocuments } from 'yaml';
import { PROJECT_ROOT } from './paths.js';

export const K8S_DIR = join(PROJECT_ROOT, 'k8s');

export type KObject = Record<string, unknown> & { apiVersion?: string; kind?: string; metadata?: { name?: string; generateName?: string; namespace?: string } };

export interface Manifest {
  /** Path relative to the project root. */
  readonly file: string;
  /** Document index within the file. */
  readonly index: number;
  readonly object: KObject;
}

export interface KustomizationPatch {
  readonly path?: string;
  readonly patch?: string;
  readonly target?: { group?: string; version?: string; kind?: string; name?: string; labelSelector?: string };
}

export interface Kustomization extends KObject {
  resources?: string[];
  patches?: KustomizationPatch[];
  images?: Array<{ name: string; newName?: string; newTag?: string; digest?: string }>;
  namespace?: string;
}

export function yamlFiles(dir: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) files.push(...yamlFiles(path));
    else if (/\.ya?ml$/.test(entry)) files.push(path);
  }
  return files;
}

export function parseYamlDocuments(text: string, where: string): KObject[] {
  const objects: KObject[] = [];
  for (const document of parseAllDocuments(text, { uniqueKeys: true, strict: true })) {
    const problems = [...document.errors, ...document.warnings];
    if (problems.length > 0) throw new Error(`${where}: ${problems.map((problem) => problem.message).join('; ')}`);
    const value: unknown = document.toJS();
    if (value === null || value === undefined) continue;
    if (typeof value !== 'object' || Array.isArray(value)) throw new Error(`${where}: a document is not a mapping`);
    objects.push(value as KObject);
  }
  return objects;
}

export function loadManifests(dir = K8S_DIR): Manifest[] {
  return yamlFiles(dir).flatMap((path) => {
    const file = relative(PROJECT_ROOT, path);
    return parseYamlDocuments(readFileSync(path, 'utf8'), file).map((object, index) => ({ file, index, object }));
  });
}

export function isKustomization(object: KObject): object is Kustomization {
  return object.kind === 'Kustomization';
}

/** Project-relative paths of the patch files kustomizations reference, plus k8s/patches/. */
export function patchFiles(manifests: readonly Manifest[]): Set<string> {
  const files = new Set<string>();
  for (const manifest of manifests) {
    if (!isKustomization(manifest.object)) continue;
    for (const patch of manifest.object.patches ?? []) {
      if (patch.path) files.add(relative(PROJECT_ROOT, resolve(PROJECT_ROOT, dirname(manifest.file), patch.path)));
    }
  }
  for (const manifest of manifests) if (manifest.file.startsWith('k8s/patches/')) files.add(manifest.file);
  return files;
}

/** The pod spec of a workload (CronJob, Job, Deployment), or null. */
export function podSpecOf(object: KObject): IPodSpec | null {
  const spec = object.spec as Record<string, any> | undefined;
  if (!spec) return null;
  if (object.kind === 'CronJob') return (spec.jobTemplate?.spec?.template?.spec as IPodSpec | undefined) ?? null;
  if (object.kind === 'Job' || object.kind === 'Deployment') return (spec.template?.spec as IPodSpec | undefined) ?? null;
  return null;
}

export function containersOf(pod: IPodSpec | null): IContainer[] {
  if (!pod) return [];
  return [...(pod.initContainers ?? []), ...(pod.containers ?? [])];
}

/** Every resource file a kustomization pulls in, following folder resources recursively. */
export function kustomizationResourceFiles(kustomizationFile: string): string[] {
  const dir = dirname(join(PROJECT_ROOT, kustomizationFile));
  const [kustomization] = parseYamlDocuments(readFileSync(join(PROJECT_ROOT, kustomizationFile), 'utf8'), kustomizationFile) as Kustomization[];
  const files: string[] = [];
  for (const resource of kustomization?.resources ?? []) {
    const path = resolve(dir, resource);
    if (existsSync(path) && statSync(path).isDirectory()) {
      files.push(...kustomizationResourceFiles(relative(PROJECT_ROOT, join(path, 'kustomization.yaml'))));
    } else {
      files.push(relative(PROJECT_ROOT, path));
    }
  }
  return files;
}

export const KUBECTL_AVAILABLE = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;

/** `kubectl kustomize DIR`, parsed. */
export function kustomizeBuild(dir: string): KObject[] {
  const result = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`kubectl kustomize ${dir} failed: ${result.stderr}`);
  return parseYamlDocuments(result.stdout, `kubectl kustomize ${dir}`);
}
