/**
 * The Kubernetes manifests under k8s/: every document validated offline against the
 * Kubernetes schemas (kubernetes-models; unknown fields rejected), and the deployment
 * policies checked:
 *
 * - one CronJob per family, staggered: the fewest possible minutes in which two fire,
 *   proven by enumerating every minute of a day against every other choice of offsets;
 * - each family's cache TTL outlives the longest gap between its runs plus the job's
 *   start, run and termination deadlines, so no covered key goes missing;
 * - Forbid, deadlines, retries, history, restartPolicy Never;
 * - pods: non-root (the Dockerfile's uid), read-only root, no privilege escalation, no
 *   capabilities, RuntimeDefault seccomp, no service account token, requests and limits;
 * - secrets only through secretKeyRef/secretRef, the example Secret never applied;
 * - the schedule Deployment (k8s/overlays/schedule/): one replica, `schedule` serving on
 *   the port its probes ask for /healthz, a startup window above the wait for the services,
 *   a termination grace above the CLI's own, the CronJobs suspended beside it;
 * - every workload's command line is one the built CLI accepts (cli-args.ts);
 * - kustomizations: resources and patches exist, the same image everywhere, and (with
 *   kubectl present) the base, the overlays and the API patch render and validate.
 *
 * Policy checks are functions returning problems, run on the real manifests and on
 * broken copies, so each one is shown to bite.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { ICronJob } from 'kubernetes-models/batch/v1/CronJob';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IProbe } from 'kubernetes-models/v1/Probe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAMILIES } from '../../src/requests/batches.js';
import { STOP_SLACK_MS } from '../../src/run/runtime.js';
import { cliRefusal } from './cli-args.js';
import { PROJECT_ROOT, dockerfileUser } from './paths.js';
import { kindOf, unknownFieldErrors, validateSchema } from './k8s-schema.js';
import {
  type KObject,
  type Kustomization,
  KUBECTL_AVAILABLE,
  type Manifest,
  K8S_DIR,
  containersOf,
  isKustomization,
  kustomizationResourceFiles,
  kustomizeBuild,
  loadManifests,
  parseYamlDocuments,
  patchFiles,
  podSpecOf,
} from './manifests.js';
import { collisions, everyMinutes, gaps, minimumCollisions, minutesOf } from './schedule.js';

const PACKAGE = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string };
const MANIFESTS = loadManifests();
const PATCH_FILES = patchFiles(MANIFESTS);
const KUSTOMIZATIONS = MANIFESTS.filter((manifest) => isKustomization(manifest.object));
const PATCHES = MANIFESTS.filter((manifest) => !isKustomization(manifest.object) && PATCH_FILES.has(manifest.file));
const RESOURCES = MANIFESTS.filter((manifest) => !isKustomization(manifest.object) && !PATCH_FILES.has(manifest.file));

/** The original design's intervals, in minutes. */
const INTERVALS: Readonly<Record<string, number>> = { dashboard: 4, executions: 5, users: 6 };
const IMAGE = 'stats-refresh';
const SECRET_NAME = 'stats-refresh-secrets';
const CONFIGMAP_NAME = 'stats-refresh-config';
const SECRET_ENV = ['DATABASE_URL', 'REDIS_URL', 'ROLLBAR_ACCESS_TOKEN'];
const SECRETISH = /URL|TOKEN|PASSWORD|SECRET|CREDENTIAL|_KEY$/i;
/** Kubernetes' default when terminationGracePeriodSeconds is unset. */
const DEFAULT_GRACE = 30;

const DOCKER_USER = (() => {
  const user = dockerfileUser();
  const [uid, gid] = user.split(':').map(Number);
  return { uid: uid ?? NaN, gid: gid ?? uid ?? NaN };
})();

const label = (manifest: Manifest) => `${manifest.file}#${manifest.index} ${kindOf(manifest.object)} ${manifest.object.metadata?.name ?? manifest.object.metadata?.generateName ?? ''}`;

function cronJobs(manifests: readonly Manifest[]): Array<Manifest & { object: ICronJob & KObject }> {
  return manifests.filter((manifest) => manifest.object.kind === 'CronJob') as Array<Manifest & { object: ICronJob & KObject }>;
}

function familyOf(cronJob: ICronJob): string {
  const args = cronJob.spec?.jobTemplate.spec?.template.spec?.containers[0]?.args ?? [];
  return args[0] === 'refresh' && args.length === 2 ? args[1]! : `(args ${JSON.stringify(args)})`;
}

function envValue(container: IContainer | undefined, name: string, configMap: Record<string, string>): string | undefined {
  const entry = container?.env?.find((candidate) => candidate.name === name);
  if (entry) return entry.value;
  return container?.envFrom?.some((source) => source.configMapRef?.name === CONFIGMAP_NAME) ? configMap[name] : undefined;
}

function configMapData(manifests: readonly Manifest[]): Record<string, string> {
  const configMap = manifests.find((manifest) => manifest.object.kind === 'ConfigMap' && manifest.object.metadata?.name === CONFIGMAP_NAME);
  return ((configMap?.object as { data?: Record<string, string> } | undefined)?.data ?? {}) as Record<string, string>;
}

// ---- the policies -----------------------------------------------------------------------

interface FamilyTiming {
  readonly family: string;
  readonly schedule: string;
  readonly maxGapSeconds: number;
  readonly minGapSeconds: number;
  readonly startingDeadline: number;
  readonly activeDeadline: number;
  readonly grace: number;
  /** The longest a key can go without a rewrite while the CronJob runs normally. */
  readonly boundSeconds: number;
  readonly ttl: number;
}

function timings(manifests: readonly Manifest[]): FamilyTiming[] {
  const configMap = configMapData(manifests);
  return cronJobs(manifests).map(({ object }) => {
    const spec = object.spec!;
    const job = spec.jobTemplate.spec!;
    const pod = job.template.spec!;
    const family = familyOf(object);
    const allGaps = gaps(spec.schedule).map((minutes) => minutes * 60);
    const startingDeadline = spec.startingDeadlineSeconds ?? NaN;
    const activeDeadline = job.activeDeadlineSeconds ?? NaN;
    const grace = pod.terminationGracePeriodSeconds ?? DEFAULT_GRACE;
    const maxGapSeconds = Math.max(...allGaps);
    return {
      family,
      schedule: spec.schedule,
      maxGapSeconds,
      minGapSeconds: Math.min(...allGaps),
      startingDeadline,
      activeDeadline,
      grace,
      boundSeconds: maxGapSeconds + startingDeadline + activeDeadline + grace,
      ttl: Number(envValue(pod.containers[0], 'STATS_CACHE_TTL', configMap)),
    };
  });
}

function cronJobProblems(manifests: readonly Manifest[]): string[] {
  const problems: string[] = [];
  const jobs = cronJobs(manifests);
  const families = jobs.map(({ object }) => familyOf(object)).sort();
  if (JSON.stringify(families) !== JSON.stringify([...FAMILIES].sort())) {
    problems.push(`CronJob families are ${families.join(', ')}, expected one each of ${FAMILIES.join(', ')}`);
  }
  for (const { object } of jobs) {
    const family = familyOf(object);
    const spec = object.spec!;
    const job = spec.jobTemplate.spec!;
    const pod = job.template.spec!;
    const where = `CronJob ${object.metadata?.name}`;
    if (object.metadata?.name !== `stats-refresh-${family}`) problems.push(`${where}: name should be stats-refresh-${family}`);
    if (spec.timeZone !== 'Etc/UTC') problems.push(`${where}: timeZone ${spec.timeZone}, expected Etc/UTC`);
    if (spec.concurrencyPolicy !== 'Forbid') problems.push(`${where}: concurrencyPolicy ${spec.concurrencyPolicy}, expected Forbid`);
    if (spec.suspend === true) problems.push(`${where}: suspended`);
    if (spec.startingDeadlineSeconds === undefined || spec.startingDeadlineSeconds < 10) {
      problems.push(`${where}: startingDeadlineSeconds must be set, at least 10 (the controller's period)`);
    }
    if (spec.successfulJobsHistoryLimit === undefined || spec.failedJobsHistoryLimit === undefined) problems.push(`${where}: history limits unset`);
    if (job.backoffLimit === undefined || job.backoffLimit > 2) problems.push(`${where}: backoffLimit ${job.backoffLimit}, expected 0-2`);
    if (job.ttlSecondsAfterFinished === undefined) problems.push(`${where}: ttlSecondsAfterFinished unset`);
    if (pod.restartPolicy !== 'Never') problems.push(`${where}: restartPolicy ${pod.restartPolicy}, expected Never`);
    let minutes: number[] = [];
    try {
      minutes = minutesOf(spec.schedule);
    } catch (error) {
      problems.push(`${where}: ${(error as Error).message}`);
      continue;
    }
    const interval = INTERVALS[family];
    const allGaps = new Set(gaps(spec.schedule));
    if (interval === undefined || allGaps.size !== 1 || !allGaps.has(interval)) {
      problems.push(`${where}: runs ${minutes.join(',')} with gaps ${[...allGaps].join('/')} min; expected every ${interval} min`);
    }
  }
  for (const timing of timings(manifests)) {
    const where = `CronJob ${timing.family}`;
    if (!(timing.activeDeadline < timing.minGapSeconds)) problems.push(`${where}: activeDeadlineSeconds ${timing.activeDeadline} not below the interval ${timing.minGapSeconds}`);
    if (!(timing.startingDeadline + timing.activeDeadline + timing.grace < timing.minGapSeconds)) {
      problems.push(`${where}: a late start + deadline + grace (${timing.startingDeadline + timing.activeDeadline + timing.grace} s) reaches the next slot (${timing.minGapSeconds} s): Forbid would skip runs`);
    }
    if (!Number.isInteger(timing.ttl) || !(timing.ttl > timing.boundSeconds)) {
      problems.push(`${where}: STATS_CACHE_TTL ${timing.ttl} must exceed max gap ${timing.maxGapSeconds} + starting ${timing.startingDeadline} + active ${timing.activeDeadline} + grace ${timing.grace} = ${timing.boundSeconds} s`);
    }
  }
  return problems;
}

function staggerProblems(manifests: readonly Manifest[]): string[] {
  const jobs = cronJobs(manifests);
  const schedules = jobs.map(({ object }) => object.spec!.schedule);
  const intervals = jobs.map(({ object }) => INTERVALS[familyOf(object)] ?? 0);
  const found = collisions(schedules);
  const best = minimumCollisions(intervals);
  const problems: string[] = [];
  if (found.minutes.length > best) {
    problems.push(`schedules ${schedules.join(' | ')} collide in ${found.minutes.length} minutes a day; ${best} is possible`);
  }
  if (found.all.length > 0) problems.push(`all CronJobs fire together in ${found.all.length} minutes a day`);
  return problems;
}

function securityProblems(manifest: Manifest, forPatch: boolean): string[] {
  const problems: string[] = [];
  const where = label(manifest);
  const pod = podSpecOf(manifest.object);
  if (!pod) return problems;
  const podContext = pod.securityContext ?? {};
  if (!forPatch) {
    if (pod.automountServiceAccountToken !== false) problems.push(`${where}: automountServiceAccountToken must be false`);
    if (pod.hostNetwork || pod.hostPID || pod.hostIPC) problems.push(`${where}: uses host namespaces`);
  } else if (pod.automountServiceAccountToken === true) {
    problems.push(`${where}: patch turns the service account token on`);
  }
  const containers = forPatch ? (pod.initContainers ?? []) : containersOf(pod);
  if (containers.length === 0 && !forPatch) problems.push(`${where}: no containers`);
  for (const container of containers) {
    const at = `${where} container ${container.name}`;
    const context = container.securityContext ?? {};
    // In the API's pod the pod-level context is the API's: the container must carry its own.
    const effective = forPatch ? context : { ...podContext, ...context };
    if (effective.runAsNonRoot !== true) problems.push(`${at}: runAsNonRoot not true`);
    const uid = context.runAsUser ?? (forPatch ? undefined : podContext.runAsUser);
    if (uid !== undefined && uid !== DOCKER_USER.uid) problems.push(`${at}: runAsUser ${uid}, the image's USER is ${DOCKER_USER.uid}`);
    if (uid === 0) problems.push(`${at}: runs as uid 0`);
    if (effective.seccompProfile?.type !== 'RuntimeDefault') problems.push(`${at}: seccompProfile not RuntimeDefault`);
    if (context.readOnlyRootFilesystem !== true) problems.push(`${at}: readOnlyRootFilesystem not true`);
    if (context.allowPrivilegeEscalation !== false) problems.push(`${at}: allowPrivilegeEscalation not false`);
    if (context.privileged === true) problems.push(`${at}: privileged`);
    if (!context.capabilities?.drop?.includes('ALL')) problems.push(`${at}: capabilities not dropped (drop: [ALL])`);
    if ((context.capabilities?.add ?? []).length > 0) problems.push(`${at}: adds capabilities`);
    const resources = container.resources ?? {};
    for (const kind of ['cpu', 'memory'] as const) {
      const request = resources.requests?.[kind];
      const limit = resources.limits?.[kind];
      if (request === undefined || limit === undefined) {
        problems.push(`${at}: ${kind} request and limit required`);
      } else if (quantity(request) > quantity(limit)) {
        problems.push(`${at}: ${kind} request ${request} above limit ${limit}`);
      }
    }
  }
  return problems;
}

/** A resource quantity in base units (cores or bytes). */
function quantity(value: string | number): number {
  const match = /^(\d+(?:\.\d+)?)(m|k|M|G|Ki|Mi|Gi)?$/.exec(String(value));
  if (!match) throw new Error(`cannot read quantity ${value}`);
  const factors: Record<string, number> = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 };
  return Number(match[1]) * (match[2] ? factors[match[2]]! : 1);
}

function secretProblems(manifest: Manifest, forPatch: boolean): string[] {
  const problems: string[] = [];
  const where = label(manifest);
  if (manifest.object.kind === 'Secret') return [`${where}: a Secret among the applied resources`];
  if (manifest.object.kind === 'ConfigMap') {
    for (const [key, value] of Object.entries((manifest.object as { data?: Record<string, string> }).data ?? {})) {
      if (SECRETISH.test(key) || /:\/\/|@/.test(value)) problems.push(`${where}: ${key} looks secret; it belongs in ${SECRET_NAME}`);
    }
  }
  const pod = podSpecOf(manifest.object);
  const containers = forPatch ? (pod?.initContainers ?? []) : containersOf(pod);
  for (const container of containers) {
    const at = `${where} container ${container.name}`;
    for (const source of container.envFrom ?? []) {
      if (source.secretRef && source.secretRef.name !== SECRET_NAME) problems.push(`${at}: envFrom secret ${source.secretRef.name}`);
      if (source.configMapRef && source.configMapRef.name !== CONFIGMAP_NAME) problems.push(`${at}: envFrom ConfigMap ${source.configMapRef.name}`);
      if (!source.secretRef && !source.configMapRef) problems.push(`${at}: envFrom neither ConfigMap nor Secret`);
    }
    const names = new Set((container.env ?? []).map((entry) => entry.name));
    for (const name of ['DATABASE_URL', 'REDIS_URL']) {
      const viaSecretRef = container.envFrom?.some((source) => source.secretRef?.name === SECRET_NAME);
      if (!names.has(name) && !viaSecretRef) problems.push(`${at}: ${name} not set`);
    }
    for (const entry of container.env ?? []) {
      const secretRef = entry.valueFrom?.secretKeyRef;
      if (SECRET_ENV.includes(entry.name) || SECRETISH.test(entry.name)) {
        if (!secretRef) problems.push(`${at}: ${entry.name} must come from a secretKeyRef`);
        else if (secretRef.name !== SECRET_NAME || secretRef.key !== entry.name) {
          problems.push(`${at}: ${entry.name} from ${secretRef.name}/${secretRef.key}, expected ${SECRET_NAME}/${entry.name}`);
        }
      }
      if (entry.value !== undefined && /:\/\/|@/.test(entry.value)) problems.push(`${at}: ${entry.name} has a literal URL value`);
    }
  }
  return problems;
}

function imageProblems(manifests: readonly Manifest[]): string[] {
  const problems: string[] = [];
  for (const manifest of manifests) {
    if (isKustomization(manifest.object)) continue;
    const pod = podSpecOf(manifest.object);
    const forPatch = PATCH_FILES.has(manifest.file);
    const containers = forPatch && manifest.object.kind === 'Deployment' ? (pod?.initContainers ?? []) : containersOf(pod);
    for (const container of containers) {
      // Overlay patches may leave the image out: they merge into a container that has it.
      if (forPatch && container.image === undefined && manifest.object.kind !== 'Deployment') continue;
      if (container.image !== IMAGE) problems.push(`${label(manifest)} container ${container.name}: image ${container.image}, expected ${IMAGE} (mapped by the kustomization's images)`);
    }
  }
  return problems;
}

function kustomizationProblems(manifest: Manifest): string[] {
  const problems: string[] = [];
  const kustomization = manifest.object as Kustomization;
  const where = manifest.file;
  const dir = dirname(join(PROJECT_ROOT, manifest.file));
  if (kustomization.apiVersion !== 'kustomize.config.k8s.io/v1beta1') problems.push(`${where}: apiVersion ${kustomization.apiVersion}`);
  const known = new Set(['apiVersion', 'kind', 'resources', 'patches', 'images', 'namespace', 'labels', 'commonAnnotations', 'configMapGenerator', 'secretGenerator', 'generatorOptions', 'components', 'namePrefix', 'nameSuffix', 'replacements', 'replicas', 'buildMetadata', 'metadata']);
  for (const key of Object.keys(kustomization)) {
    if (!known.has(key)) problems.push(`${where}: unknown or deprecated field ${key}`);
  }
  for (const resource of kustomization.resources ?? []) {
    const path = resolve(dir, resource);
    if (!existsSync(path)) problems.push(`${where}: resource ${resource} does not exist`);
    else if (statSync(path).isDirectory() && !existsSync(join(path, 'kustomization.yaml'))) problems.push(`${where}: resource folder ${resource} has no kustomization.yaml`);
  }
  for (const patch of kustomization.patches ?? []) {
    if (!patch.path) {
      problems.push(`${where}: inline patch; keep patches in files so they are validated`);
      continue;
    }
    const path = resolve(dir, patch.path);
    if (!existsSync(path)) {
      problems.push(`${where}: patch ${patch.path} does not exist`);
      continue;
    }
    const [object] = parseYamlDocuments(readFileSync(path, 'utf8'), patch.path);
    if (patch.target?.kind && object?.kind !== patch.target.kind) problems.push(`${where}: patch ${patch.path} is a ${object?.kind}, its target a ${patch.target.kind}`);
  }
  const usedAsBase = KUSTOMIZATIONS.some((other) =>
    ((other.object as Kustomization).resources ?? []).some(
      (resource) => resolve(dirname(join(PROJECT_ROOT, other.file)), resource, 'kustomization.yaml') === join(PROJECT_ROOT, manifest.file),
    ),
  );
  if (usedAsBase && (kustomization.images ?? []).length > 0) {
    problems.push(`${where}: maps images, but it is a base: the image is renamed before its users' images entries apply, which would then be ignored`);
  }
  for (const image of kustomization.images ?? []) {
    if (image.name !== IMAGE) problems.push(`${where}: images entry for ${image.name}, the workloads use ${IMAGE}`);
    if (!image.newTag && !image.digest) problems.push(`${where}: image ${image.name} has no tag or digest`);
    if (image.newTag === 'latest') problems.push(`${where}: image tag latest`);
  }
  return problems;
}

/** Kubernetes' probe defaults. */
const PROBE_DEFAULTS = { periodSeconds: 10, failureThreshold: 3 };
const PROBES = ['startupProbe', 'readinessProbe', 'livenessProbe'] as const;

function deployments(manifests: readonly Manifest[]): Array<Manifest & { object: IDeployment & KObject }> {
  return manifests.filter((manifest) => manifest.object.kind === 'Deployment') as Array<Manifest & { object: IDeployment & KObject }>;
}

/** The port `schedule` serves /metrics and /healthz on: --metrics-port, else STATS_REFRESH_METRICS_PORT; NaN when unset. */
function servedPort(container: IContainer, configMap: Record<string, string>): number {
  const args = container.args ?? [];
  const index = args.findIndex((arg) => arg === '--metrics-port' || arg.startsWith('--metrics-port='));
  if (index >= 0) return Number(args[index]!.includes('=') ? args[index]!.split('=')[1] : args[index + 1]);
  return Number(envValue(container, 'STATS_REFRESH_METRICS_PORT', configMap) ?? NaN);
}

/** The container port a probe's httpGet asks, a named port resolved. */
function probePort(probe: IProbe, container: IContainer): number {
  const port = probe.httpGet?.port;
  if (typeof port === 'number') return port;
  return container.ports?.find((candidate) => candidate.name === port)?.containerPort ?? Number(port);
}

function deploymentProblems(manifests: readonly Manifest[]): string[] {
  const problems: string[] = [];
  const configMap = configMapData(manifests);
  for (const { object } of deployments(manifests)) {
    const where = `Deployment ${object.metadata?.name}`;
    const spec = object.spec!;
    const pod = spec.template.spec!;
    if (spec.replicas !== 1) problems.push(`${where}: replicas ${spec.replicas}, expected 1`);
    const labels = spec.template.metadata?.labels ?? {};
    for (const [key, value] of Object.entries(spec.selector.matchLabels ?? {})) {
      if (labels[key] !== value) problems.push(`${where}: the selector's ${key}=${value} is not on the pod template`);
    }
    if (spec.strategy?.type === 'Recreate' || spec.strategy?.rollingUpdate?.maxUnavailable !== 0) {
      problems.push(`${where}: a rollout must keep the old pod until the new one is ready (RollingUpdate, maxUnavailable 0)`);
    }
    if (pod.restartPolicy !== undefined && pod.restartPolicy !== 'Always') problems.push(`${where}: restartPolicy ${pod.restartPolicy}`);
    const container = pod.containers[0]!;
    if (pod.containers.length !== 1 || container.name !== 'stats-refresh') problems.push(`${where}: expected the one container stats-refresh`);
    if (container.args?.[0] !== 'schedule') problems.push(`${where}: args ${JSON.stringify(container.args)}, expected schedule`);
    const port = servedPort(container, configMap);
    if (!Number.isInteger(port) || port <= 0) problems.push(`${where}: no --metrics-port or STATS_REFRESH_METRICS_PORT: /healthz is not served`);
    for (const name of PROBES) {
      const probe = container[name];
      if (!probe) {
        problems.push(`${where}: no ${name}`);
        continue;
      }
      if (probe.httpGet?.path !== '/healthz' || probePort(probe, container) !== port || (probe.httpGet.scheme ?? 'HTTP') !== 'HTTP') {
        problems.push(`${where}: ${name} asks ${probe.httpGet?.scheme ?? 'HTTP'} ${probe.httpGet?.path}:${probePort(probe, container)}, schedule serves /healthz on ${port}`);
      }
    }
    // schedule listens only once PostgreSQL and Redis answered (it waits up to the wait timeout).
    const startup = { ...PROBE_DEFAULTS, ...container.startupProbe };
    const waitSeconds = Number(envValue(container, 'STATS_REFRESH_WAIT_TIMEOUT', configMap));
    if (!(startup.periodSeconds * startup.failureThreshold > waitSeconds)) {
      problems.push(`${where}: startupProbe allows ${startup.periodSeconds * startup.failureThreshold} s, schedule may wait ${waitSeconds} s for the services before it listens`);
    }
    const grace = pod.terminationGracePeriodSeconds ?? DEFAULT_GRACE;
    const cliGrace = Number(envValue(container, 'STATS_REFRESH_GRACE_PERIOD', configMap)) + STOP_SLACK_MS / 1000;
    if (!(grace > cliGrace)) problems.push(`${where}: terminationGracePeriodSeconds ${grace} must exceed the grace period + slack (${cliGrace} s)`);
  }
  return problems;
}

// ---- the tests --------------------------------------------------------------------------

describe('k8s manifests: parsing and schemas', () => {
  let strictErrors: Map<string, string[]>;
  const mutated: Record<string, KObject> = {};

  beforeAll(() => {
    const cronJob = structuredClone(RESOURCES.find((manifest) => manifest.object.kind === 'CronJob')!.object) as Record<string, any>;
    cronJob.spec.concurencyPolicy = 'Forbid';
    mutated.misspelledPolicy = cronJob;
    const deep = structuredClone(RESOURCES.find((manifest) => manifest.object.kind === 'CronJob')!.object) as Record<string, any>;
    deep.spec.jobTemplate.spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem = true;
    mutated.misspelledDeep = deep;
    const patch = structuredClone(PATCHES.find((manifest) => manifest.object.kind === 'Deployment')!.object) as Record<string, any>;
    patch.spec.template.spec.initContainers[0].env[0].valueFrom.secretKeyRef.optinal = true;
    mutated.misspelledPatch = patch;
    strictErrors = unknownFieldErrors([
      ...RESOURCES.map((manifest) => ({ id: label(manifest), object: manifest.object })),
      ...PATCHES.map((manifest) => ({ id: label(manifest), object: manifest.object, partial: true })),
      { id: 'misspelledPolicy', object: mutated.misspelledPolicy },
      { id: 'misspelledDeep', object: mutated.misspelledDeep },
      { id: 'misspelledPatch', object: mutated.misspelledPatch, partial: true },
    ]);
  }, 60_000);

  it('finds the expected files', () => {
    expect(KUSTOMIZATIONS.map((manifest) => manifest.file).sort()).toEqual([
      'k8s/base/kustomization.yaml',
      'k8s/kustomization.yaml',
      'k8s/overlays/production/kustomization.yaml',
      'k8s/overlays/schedule/kustomization.yaml',
    ]);
    expect(RESOURCES.map((manifest) => `${manifest.object.kind} ${manifest.file}`).sort()).toEqual([
      'ConfigMap k8s/base/configmap.yaml',
      'CronJob k8s/base/cronjob-dashboard.yaml',
      'CronJob k8s/base/cronjob-executions.yaml',
      'CronJob k8s/base/cronjob-users.yaml',
      'Deployment k8s/overlays/schedule/deployment.yaml',
      'Job k8s/jobs/warmup-job.yaml',
      'Secret k8s/secret.example.yaml',
    ]);
    expect(PATCHES.map((manifest) => `${manifest.object.kind} ${manifest.file}`).sort()).toEqual([
      'CronJob k8s/overlays/production/cronjob-resources.yaml',
      'CronJob k8s/overlays/schedule/cronjob-suspend.yaml',
      'Deployment k8s/patches/api-deployment-warmup.yaml',
    ]);
  });

  it.each(RESOURCES.map((manifest) => [label(manifest), manifest] as const))('%s validates against its schema', (_label, manifest) => {
    expect(() => validateSchema(manifest.object)).not.toThrow();
  });

  it('declares no field the schemas do not know, in resources and patches', () => {
    const real = [...RESOURCES, ...PATCHES].map(label);
    const errors = Object.fromEntries([...strictErrors].filter(([id]) => real.includes(id) || id.startsWith('(setup')));
    expect(errors).toEqual({});
  });

  it('rejects a misspelled field (concurencyPolicy), also deep in a pod and in a patch', () => {
    expect(strictErrors.get('misspelledPolicy')?.join('\n')).toMatch(/'"concurencyPolicy"' does not exist in type 'ICronJobSpec'/);
    expect(strictErrors.get('misspelledDeep')?.join('\n')).toMatch(/'"readOnlyRootFileSystem"' does not exist/);
    expect(strictErrors.get('misspelledPatch')?.join('\n')).toMatch(/'"optinal"' does not exist/);
  });

  it('rejects wrong values and types through the schema validators', () => {
    const cronJob = structuredClone(RESOURCES.find((manifest) => manifest.object.kind === 'CronJob')!.object) as Record<string, any>;
    cronJob.spec.concurrencyPolicy = 'Forbidd';
    expect(() => validateSchema(cronJob)).toThrow(/concurrencyPolicy must be equal to one of the allowed values/);
    cronJob.spec.concurrencyPolicy = 'Forbid';
    cronJob.spec.startingDeadlineSeconds = '60';
    expect(() => validateSchema(cronJob)).toThrow(/startingDeadlineSeconds must be integer/);
    cronJob.spec.startingDeadlineSeconds = 60;
    delete cronJob.spec.schedule;
    expect(() => validateSchema(cronJob)).toThrow(/required property schedule/);
  });
});

describe('CronJobs: schedule, deadlines and TTLs', () => {
  const base = RESOURCES.filter((manifest) => manifest.file.startsWith('k8s/base/'));

  it('has one CronJob per family, every 4, 5 and 6 minutes, with Forbid, deadlines, retries and history', () => {
    expect(cronJobProblems(base)).toEqual([]);
  });

  it('staggers the families: 5 collision minutes an hour, the minimum, never all three', () => {
    const schedules = Object.fromEntries(cronJobs(base).map(({ object }) => [familyOf(object), object.spec!.schedule]));
    expect(schedules).toEqual({ dashboard: '1-59/4 * * * *', executions: '2-59/5 * * * *', users: '4-59/6 * * * *' });
    const ours = collisions(Object.values(schedules));
    // Enumerated over every minute of a day (24 x 60), the hour boundaries included.
    expect(ours.minutes.length).toBe(24 * 5);
    expect(ours.all).toEqual([]);
    expect(ours.minutes.filter((minute) => minute < 60)).toEqual([17, 22, 37, 52, 57]);
    // Every other choice of offsets does no better: 4 and 5, and 5 and 6, are coprime and
    // meet 60/20 = 3 and 60/30 = 2 times an hour whatever the offsets.
    expect(minimumCollisions([4, 5, 6])).toBe(24 * 5);
    // Plain */4, */5, */6 meet 8 times an hour, all three at minute 0.
    const plain = collisions(['*/4 * * * *', '*/5 * * * *', '*/6 * * * *']);
    expect(plain.minutes.length).toBe(24 * 8);
    expect(plain.all.length).toBe(24);
    expect(staggerProblems(base)).toEqual([]);
    // And none of them at the top of the hour, where hourly jobs pile up.
    for (const schedule of Object.values(schedules)) expect(minutesOf(schedule)).not.toContain(0);
  });

  it('keeps every key alive between runs: TTL > max gap + starting + active deadline + grace', () => {
    const table = timings(base).map(({ family, maxGapSeconds, startingDeadline, activeDeadline, grace, boundSeconds, ttl }) => ({
      family,
      maxGapSeconds,
      startingDeadline,
      activeDeadline,
      grace,
      boundSeconds,
      ttl,
    }));
    expect(table).toEqual([
      { family: 'dashboard', maxGapSeconds: 240, startingDeadline: 60, activeDeadline: 120, grace: 30, boundSeconds: 450, ttl: 510 },
      { family: 'executions', maxGapSeconds: 300, startingDeadline: 60, activeDeadline: 180, grace: 30, boundSeconds: 570, ttl: 630 },
      { family: 'users', maxGapSeconds: 360, startingDeadline: 60, activeDeadline: 240, grace: 30, boundSeconds: 690, ttl: 750 },
    ]);
  });

  it('gives warmup (ConfigMap STATS_CACHE_TTL) a TTL above every family bound', () => {
    const configMap = configMapData(base);
    const longest = Math.max(...timings(base).map((timing) => timing.boundSeconds));
    expect(Number(configMap.STATS_CACHE_TTL)).toBeGreaterThan(longest);
    for (const manifest of [...RESOURCES, ...PATCHES].filter((candidate) => ['Job', 'Deployment'].includes(String(candidate.object.kind)))) {
      for (const container of containersOf(podSpecOf(manifest.object))) {
        expect(container.env?.some((entry) => entry.name === 'STATS_CACHE_TTL'), label(manifest)).toBe(false);
      }
    }
  });

  it('keeps the CLI inside its deadlines: statement timeout below every activeDeadline, grace below the pod grace', () => {
    const configMap = configMapData(base);
    for (const timing of timings(base)) {
      expect(Number(configMap.STATS_REFRESH_STATEMENT_TIMEOUT)).toBeLessThan(timing.activeDeadline);
      expect(Number(configMap.STATS_REFRESH_GRACE_PERIOD)).toBeLessThan(timing.grace);
    }
  });

  it.each([
    ['plain */4 schedules', (cronJob: Record<string, any>) => { cronJob.spec.schedule = '*/4 * * * *'; }, /collide in 192 minutes a day; 120 is possible|all CronJobs fire together/],
    ['an irregular minute list', (cronJob: Record<string, any>) => { cronJob.spec.schedule = '1,5,9,13,17,21,25,29,33,37,41,45,49,53 * * * *'; }, /gaps .* expected every 4 min/],
    ['a TTL below the bound', (cronJob: Record<string, any>) => { cronJob.spec.jobTemplate.spec.template.spec.containers[0].env[0].value = '300'; }, /STATS_CACHE_TTL 300 must exceed/],
    ['a deadline as long as the interval', (cronJob: Record<string, any>) => { cronJob.spec.jobTemplate.spec.activeDeadlineSeconds = 240; }, /not below the interval/],
    ['Allow', (cronJob: Record<string, any>) => { cronJob.spec.concurrencyPolicy = 'Allow'; }, /expected Forbid/],
    ['no time zone', (cronJob: Record<string, any>) => { delete cronJob.spec.timeZone; }, /expected Etc\/UTC/],
    ['OnFailure', (cronJob: Record<string, any>) => { cronJob.spec.jobTemplate.spec.template.spec.restartPolicy = 'OnFailure'; }, /expected Never/],
  ])('rejects %s', (_name, mutate, expected) => {
    const broken = base.map((manifest) => (manifest.file.endsWith('cronjob-dashboard.yaml') ? { ...manifest, object: structuredClone(manifest.object) } : manifest));
    mutate(broken.find((manifest) => manifest.file.endsWith('cronjob-dashboard.yaml'))!.object as Record<string, any>);
    expect([...cronJobProblems(broken), ...staggerProblems(broken)].join('\n')).toMatch(expected);
  });
});

describe('pods: security, resources, secrets', () => {
  const workloads = RESOURCES.filter((manifest) => podSpecOf(manifest.object) !== null);

  it('covers the CronJobs, the on-call Job, the schedule Deployment and the API init container', () => {
    expect(workloads.map((manifest) => manifest.object.kind).sort()).toEqual(['CronJob', 'CronJob', 'CronJob', 'Deployment', 'Job']);
    const apiPatch = PATCHES.find((manifest) => manifest.object.kind === 'Deployment')!;
    expect(podSpecOf(apiPatch.object)?.initContainers?.map((container) => [container.name, container.args])).toEqual([['stats-refresh-warmup', ['warmup', '--best-effort']]]);
    const job = workloads.find((manifest) => manifest.object.kind === 'Job')!;
    expect(podSpecOf(job.object)?.containers.map((container) => container.args)).toEqual([['warmup']]);
    expect(job.object.metadata?.generateName).toBe('stats-refresh-warmup-');
  });

  it('runs non-root (the image uid), read-only, unprivileged, without capabilities or token, within limits', () => {
    expect(Number.isInteger(DOCKER_USER.uid) && DOCKER_USER.uid > 0).toBe(true);
    expect(workloads.flatMap((manifest) => securityProblems(manifest, false))).toEqual([]);
    expect(PATCHES.filter((manifest) => manifest.object.kind === 'Deployment').flatMap((manifest) => securityProblems(manifest, true))).toEqual([]);
  });

  it('takes connection strings and the token only from the Secret, everything else from the ConfigMap', () => {
    const applied = RESOURCES.filter((manifest) => manifest.object.kind !== 'Secret');
    expect(applied.flatMap((manifest) => secretProblems(manifest, false))).toEqual([]);
    expect(PATCHES.filter((manifest) => manifest.object.kind === 'Deployment').flatMap((manifest) => secretProblems(manifest, true))).toEqual([]);
    for (const manifest of workloads) {
      for (const container of containersOf(podSpecOf(manifest.object))) {
        expect(container.envFrom, label(manifest)).toEqual([{ configMapRef: { name: CONFIGMAP_NAME } }]);
      }
    }
  });

  it('has an example Secret with placeholders only, for every key the pods read, applied by no kustomization', () => {
    const example = RESOURCES.find((manifest) => manifest.object.kind === 'Secret')!;
    expect(example.file).toBe('k8s/secret.example.yaml');
    expect(example.object.metadata?.name).toBe(SECRET_NAME);
    const data = (example.object as { stringData?: Record<string, string> }).stringData ?? {};
    const used = new Set(
      [...workloads, ...PATCHES].flatMap((manifest) =>
        containersOf(podSpecOf(manifest.object)).flatMap((container) => (container.env ?? []).flatMap((entry) => (entry.valueFrom?.secretKeyRef ? [entry.valueFrom.secretKeyRef.key] : []))),
      ),
    );
    expect(Object.keys(data).sort()).toEqual([...used].sort());
    for (const value of Object.values(data)) expect(value).toMatch(/CHANGE_ME/);
    for (const kustomization of KUSTOMIZATIONS) {
      const files = kustomizationResourceFiles(kustomization.file);
      expect(files, kustomization.file).not.toContain('k8s/secret.example.yaml');
      expect(files, kustomization.file).not.toContain('k8s/jobs/warmup-job.yaml');
    }
  });

  it.each([
    ['root', (pod: Record<string, any>) => { pod.securityContext.runAsUser = 0; }, /runAsUser 0|uid 0/],
    ['a writable root', (pod: Record<string, any>) => { pod.containers[0].securityContext.readOnlyRootFilesystem = false; }, /readOnlyRootFilesystem/],
    ['a token', (pod: Record<string, any>) => { delete pod.automountServiceAccountToken; }, /automountServiceAccountToken/],
    ['no memory limit', (pod: Record<string, any>) => { delete pod.containers[0].resources.limits.memory; }, /memory request and limit/],
    ['a kept capability', (pod: Record<string, any>) => { pod.containers[0].securityContext.capabilities = { add: ['NET_ADMIN'] }; }, /capabilities/],
    ['a literal DATABASE_URL', (pod: Record<string, any>) => { pod.containers[0].env[1] = { name: 'DATABASE_URL', value: 'postgres://u:p@h/db' }; }, /DATABASE_URL must come from a secretKeyRef/],
  ])('rejects %s', (_name, mutate, expected) => {
    const manifest = structuredClone(workloads[0]!);
    mutate(podSpecOf(manifest.object) as unknown as Record<string, any>);
    expect([...securityProblems(manifest, false), ...secretProblems(manifest, false)].join('\n')).toMatch(expected);
  });
});

describe('the schedule Deployment (k8s/overlays/schedule/)', () => {
  const manifests = RESOURCES.filter((manifest) => manifest.file.startsWith('k8s/base/') || manifest.file.startsWith('k8s/overlays/schedule/'));
  const deployment = () => deployments(manifests)[0]!;

  it('runs one schedule, probed at the /healthz it serves, with a startup window and a termination grace that fit the CLI', () => {
    expect(deployments(manifests).map(({ file }) => file)).toEqual(['k8s/overlays/schedule/deployment.yaml']);
    expect(deploymentProblems(manifests)).toEqual([]);
    const container = podSpecOf(deployment().object)!.containers[0]!;
    expect(servedPort(container, configMapData(manifests))).toBe(9464);
    for (const name of PROBES) expect(container[name]?.httpGet, name).toEqual({ path: '/healthz', port: 'metrics' });
  });

  it('has the CronJobs\' pod: same ConfigMap, Secret keys, security context and /tmp volume', () => {
    const pod = podSpecOf(deployment().object)!;
    const cronPod = podSpecOf(cronJobs(manifests)[0]!.object)!;
    const withoutTtl = (container: IContainer) => (container.env ?? []).filter((entry) => entry.name !== 'STATS_CACHE_TTL');
    expect(withoutTtl(pod.containers[0]!)).toEqual(withoutTtl(cronPod.containers[0]!));
    expect(pod.containers[0]!.envFrom).toEqual(cronPod.containers[0]!.envFrom);
    expect(pod.containers[0]!.securityContext).toEqual(cronPod.containers[0]!.securityContext);
    expect(pod.containers[0]!.volumeMounts).toEqual(cronPod.containers[0]!.volumeMounts);
    expect(pod.securityContext).toEqual(cronPod.securityContext);
    expect(pod.volumes).toEqual(cronPod.volumes);
  });

  it.each([
    ['two replicas', (object: Record<string, any>) => { object.spec.replicas = 2; }, /replicas 2, expected 1/],
    ['a probe on another path', (object: Record<string, any>) => { object.spec.template.spec.containers[0].livenessProbe.httpGet.path = '/metrics'; }, /livenessProbe asks HTTP \/metrics:9464/],
    ['a probe on another port', (object: Record<string, any>) => { object.spec.template.spec.containers[0].readinessProbe.httpGet.port = 8080; }, /readinessProbe asks HTTP \/healthz:8080, schedule serves \/healthz on 9464/],
    ['no metrics port', (object: Record<string, any>) => { object.spec.template.spec.containers[0].args = ['schedule']; }, /\/healthz is not served/],
    ['no startup probe', (object: Record<string, any>) => { delete object.spec.template.spec.containers[0].startupProbe; }, /no startupProbe/],
    ['a startup window below the wait', (object: Record<string, any>) => { object.spec.template.spec.containers[0].startupProbe.failureThreshold = 3; }, /startupProbe allows 15 s, schedule may wait 120 s/],
    ['a grace no longer than the CLI\'s', (object: Record<string, any>) => { object.spec.template.spec.terminationGracePeriodSeconds = 25; }, /terminationGracePeriodSeconds 25 must exceed the grace period \+ slack \(25 s\)/],
    ['a one-shot command', (object: Record<string, any>) => { object.spec.template.spec.containers[0].args = ['refresh', 'all', '--metrics-port', '9464']; }, /expected schedule/],
    ['Recreate', (object: Record<string, any>) => { object.spec.strategy = { type: 'Recreate' }; }, /maxUnavailable 0/],
    ['a selector the pods do not carry', (object: Record<string, any>) => { object.spec.selector.matchLabels['app.kubernetes.io/component'] = 'other'; }, /is not on the pod template/],
  ])('rejects %s', (_name, mutate, expected) => {
    const broken = manifests.map((manifest) => (manifest.object.kind === 'Deployment' ? { ...manifest, object: structuredClone(manifest.object) } : manifest));
    mutate(broken.find((manifest) => manifest.object.kind === 'Deployment')!.object as Record<string, any>);
    expect(deploymentProblems(broken).join('\n')).toMatch(expected);
  });

  it('suspends the three CronJobs, so the two never both refresh', () => {
    const overlay = KUSTOMIZATIONS.find((manifest) => manifest.file === 'k8s/overlays/schedule/kustomization.yaml')!.object as Kustomization;
    expect(overlay.resources).toEqual(['../../base', 'deployment.yaml']);
    const patch = PATCHES.find((manifest) => manifest.file === 'k8s/overlays/schedule/cronjob-suspend.yaml')!;
    expect(patch.object.spec).toEqual({ suspend: true });
    expect(overlay.patches).toEqual([
      { path: 'cronjob-suspend.yaml', target: { group: 'batch', version: 'v1', kind: 'CronJob', labelSelector: 'app.kubernetes.io/name=stats-refresh' } },
    ]);
    for (const { object } of cronJobs(manifests)) expect(object.metadata?.labels?.['app.kubernetes.io/name']).toBe('stats-refresh');
  });
});

describe('command lines', () => {
  /** Every container of every workload and patch, with the environment Kubernetes gives it (Secret values aside). */
  const commandLines = [...RESOURCES, ...PATCHES].flatMap((manifest) => {
    const pod = podSpecOf(manifest.object);
    const containers = PATCH_FILES.has(manifest.file) ? (pod?.initContainers ?? []) : containersOf(pod);
    return containers.map((container) => {
      const env: Record<string, string> = {};
      if (container.envFrom?.some((source) => source.configMapRef?.name === CONFIGMAP_NAME)) Object.assign(env, configMapData(RESOURCES));
      for (const entry of container.env ?? []) if (entry.value !== undefined) env[entry.name] = entry.value;
      return [`${label(manifest)} ${container.name}`, container.args ?? [], env] as const;
    });
  });

  it('finds every workload\'s container', () => {
    expect(commandLines.map(([, args]) => args.join(' ')).sort()).toEqual([
      'refresh dashboard',
      'refresh executions',
      'refresh users',
      'schedule --metrics-port 9464',
      'warmup',
      'warmup --best-effort',
    ]);
  });

  it.each(commandLines)('%s: the built CLI accepts its command line', async (_where, args, env) => {
    expect(await cliRefusal(args, env)).toBeNull();
  }, 30_000);

  it.each([
    [['schedul'], /unknown command|schedul/],
    [['schedule', '--metrics-port', 'abc'], /--metrics-port must be a whole number/],
    [['refresh', 'dashbord'], /unknown target "dashbord"/],
  ])('refuses %j', async (args, expected) => {
    expect(await cliRefusal(args, configMapData(RESOURCES))).toMatch(expected);
  }, 30_000);
});

describe('kustomizations', () => {
  it.each(KUSTOMIZATIONS.map((manifest) => [manifest.file, manifest] as const))('%s: known fields, existing resources and patches, the stats-refresh image', (_file, manifest) => {
    expect(kustomizationProblems(manifest)).toEqual([]);
  });

  it('flags an image mapping in a base', () => {
    const manifest = structuredClone(KUSTOMIZATIONS.find((candidate) => candidate.file === 'k8s/base/kustomization.yaml')!);
    (manifest.object as Kustomization).images = [{ name: IMAGE, newName: 'example.invalid/x', newTag: '1' }];
    expect(kustomizationProblems(manifest).join('\n')).toMatch(/maps images, but it is a base/);
  });

  it('flags a missing resource, a missing patch and a deprecated field', () => {
    const manifest = structuredClone(KUSTOMIZATIONS.find((candidate) => candidate.file === 'k8s/overlays/production/kustomization.yaml')!);
    const kustomization = manifest.object as Kustomization & { patchesStrategicMerge?: string[] };
    kustomization.resources = ['../../nowhere'];
    kustomization.patches = [{ path: 'missing.yaml' }];
    kustomization.patchesStrategicMerge = [];
    const problems = kustomizationProblems(manifest).join('\n');
    expect(problems).toMatch(/resource \.\.\/\.\.\/nowhere does not exist/);
    expect(problems).toMatch(/patch missing.yaml does not exist/);
    expect(problems).toMatch(/deprecated field patchesStrategicMerge/);
  });

  it('uses one image in every workload, mapped by the entry points, pinned to the package version in k8s/', () => {
    expect(imageProblems(MANIFESTS)).toEqual([]);
    const top = KUSTOMIZATIONS.find((manifest) => manifest.file === 'k8s/kustomization.yaml')!.object as Kustomization;
    expect(top.images).toEqual([expect.objectContaining({ name: IMAGE, newTag: PACKAGE.version })]);
    const overlay = KUSTOMIZATIONS.find((manifest) => manifest.file === 'k8s/overlays/production/kustomization.yaml')!.object as Kustomization;
    expect(overlay.images).toEqual([expect.objectContaining({ name: IMAGE, newName: top.images?.[0]?.newName })]);
    expect(overlay.namespace).toBeTruthy();
    const schedule = KUSTOMIZATIONS.find((manifest) => manifest.file === 'k8s/overlays/schedule/kustomization.yaml')!.object as Kustomization;
    expect(schedule.images).toEqual(overlay.images);
    expect(schedule.namespace).toBe(overlay.namespace);
    const base = KUSTOMIZATIONS.find((manifest) => manifest.file === 'k8s/base/kustomization.yaml')!.object as Kustomization;
    expect(base.images).toBeUndefined();
  });

  it('lists the CronJobs and the ConfigMap in the base, through k8s/kustomization.yaml', () => {
    expect(kustomizationResourceFiles('k8s/kustomization.yaml').sort()).toEqual([
      'k8s/base/configmap.yaml',
      'k8s/base/cronjob-dashboard.yaml',
      'k8s/base/cronjob-executions.yaml',
      'k8s/base/cronjob-users.yaml',
    ]);
  });
});

describe.skipIf(!KUBECTL_AVAILABLE)('kubectl kustomize (offline render)', () => {
  function checkRendered(objects: KObject[], expectedImage: string): void {
    const errors = unknownFieldErrors(objects.map((object, index) => ({ id: `${index} ${kindOf(object)} ${object.metadata?.name}`, object })));
    expect(Object.fromEntries(errors)).toEqual({});
    for (const object of objects) {
      expect(() => validateSchema(object), `${kindOf(object)} ${object.metadata?.name}`).not.toThrow();
      expect(object.kind).not.toBe('Secret');
      for (const container of containersOf(podSpecOf(object))) expect(container.image).toBe(expectedImage);
    }
    for (const object of objects.filter((candidate) => candidate.kind === 'CronJob')) {
      expect(podSpecOf(object)?.containers.map((container) => container.name)).toEqual(['stats-refresh']);
    }
  }

  it('renders k8s/ (the base) to valid objects with the base image', () => {
    const objects = kustomizeBuild(K8S_DIR);
    expect(objects.map((object) => `${object.kind}/${object.metadata?.name}`).sort()).toEqual([
      'ConfigMap/stats-refresh-config',
      'CronJob/stats-refresh-dashboard',
      'CronJob/stats-refresh-executions',
      'CronJob/stats-refresh-users',
    ]);
    const top = KUSTOMIZATIONS.find((manifest) => manifest.file === 'k8s/kustomization.yaml')!.object as Kustomization;
    checkRendered(objects, `${top.images![0]!.newName}:${top.images![0]!.newTag}`);
    // The base itself leaves the logical name for its users to map.
    for (const object of kustomizeBuild(join(K8S_DIR, 'base'))) {
      for (const container of containersOf(podSpecOf(object))) expect(container.image).toBe(IMAGE);
    }
  }, 60_000);

  it('renders the production overlay: namespace, image, resources on all three CronJobs', () => {
    const overlayFile = KUSTOMIZATIONS.find((manifest) => manifest.file === 'k8s/overlays/production/kustomization.yaml')!;
    const overlay = overlayFile.object as Kustomization;
    const objects = kustomizeBuild(join(K8S_DIR, 'overlays', 'production'));
    checkRendered(objects, `${overlay.images![0]!.newName}:${overlay.images![0]!.newTag}`);
    const patch = PATCHES.find((manifest) => manifest.file === 'k8s/overlays/production/cronjob-resources.yaml')!;
    const wanted = podSpecOf(patch.object)!.containers[0]!.resources;
    for (const object of objects) {
      expect(object.metadata?.namespace).toBe(overlay.namespace);
      if (object.kind === 'CronJob') expect((podSpecOf(object) as IPodSpec).containers[0]!.resources).toEqual(wanted);
    }
    // The rendered CronJobs still meet every policy.
    const rendered = objects.map((object, index) => ({ file: 'rendered', index, object }));
    expect(cronJobProblems(rendered)).toEqual([]);
    expect(staggerProblems(rendered)).toEqual([]);
  }, 60_000);

  it('renders the schedule overlay: the Deployment, the ConfigMap and the three CronJobs suspended, in the namespace', () => {
    const overlay = KUSTOMIZATIONS.find((manifest) => manifest.file === 'k8s/overlays/schedule/kustomization.yaml')!.object as Kustomization;
    const objects = kustomizeBuild(join(K8S_DIR, 'overlays', 'schedule'));
    expect(objects.map((object) => `${object.kind}/${object.metadata?.name}`).sort()).toEqual([
      'ConfigMap/stats-refresh-config',
      'CronJob/stats-refresh-dashboard',
      'CronJob/stats-refresh-executions',
      'CronJob/stats-refresh-users',
      'Deployment/stats-refresh-schedule',
    ]);
    checkRendered(objects, `${overlay.images![0]!.newName}:${overlay.images![0]!.newTag}`);
    for (const object of objects) expect(object.metadata?.namespace).toBe(overlay.namespace);
    const rendered = objects.map((object, index) => ({ file: 'rendered', index, object }));
    expect(deploymentProblems(rendered)).toEqual([]);
    // Suspended, and otherwise the CronJobs of the base: applying another overlay resumes them as they were.
    expect(cronJobProblems(rendered)).toEqual(FAMILIES.map((family) => `CronJob stats-refresh-${family}: suspended`).sort());
    expect(staggerProblems(rendered)).toEqual([]);
  }, 60_000);

  describe('the API Deployment patch, applied to a stand-in API Deployment', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'stats-refresh-api-patch-'));
    });
    afterAll(() => {
      rmSync(dir, { recursive: true, force: true });
    });

    it('adds the warm-up init container and its volume, keeps the API container, and validates', () => {
      const patch = PATCHES.find((manifest) => manifest.file === 'k8s/patches/api-deployment-warmup.yaml')!;
      cpSync(join(PROJECT_ROOT, patch.file), join(dir, 'api-deployment-warmup.yaml'));
      writeFileSync(
        join(dir, 'deployment.yaml'),
        [
          'apiVersion: apps/v1',
          'kind: Deployment',
          'metadata: {name: api}',
          'spec:',
          '  selector: {matchLabels: {app: api}}',
          '  template:',
          '    metadata: {labels: {app: api}}',
          '    spec:',
          '      containers:',
          '        - {name: api, image: "example.invalid/trends-earth-api:1"}',
          '',
        ].join('\n'),
      );
      writeFileSync(
        join(dir, 'kustomization.yaml'),
        [
          'apiVersion: kustomize.config.k8s.io/v1beta1',
          'kind: Kustomization',
          'resources: [deployment.yaml]',
          'patches:',
          '  - path: api-deployment-warmup.yaml',
          '    target: {group: apps, version: v1, kind: Deployment, name: api}',
          'images:',
          '  - {name: stats-refresh, newName: example.invalid/stats-refresh, newTag: "1.2.3"}',
          '',
        ].join('\n'),
      );
      const [deployment, ...rest] = kustomizeBuild(dir);
      expect(rest).toEqual([]);
      expect(deployment?.metadata?.name).toBe('api');
      const pod = podSpecOf(deployment!)!;
      expect(pod.containers.map((container) => [container.name, container.image])).toEqual([['api', 'example.invalid/trends-earth-api:1']]);
      expect(pod.initContainers?.map((container) => [container.name, container.image, container.args])).toEqual([
        ['stats-refresh-warmup', 'example.invalid/stats-refresh:1.2.3', ['warmup', '--best-effort']],
      ]);
      expect(pod.volumes?.map((volume) => volume.name)).toEqual(['stats-refresh-tmp']);
      expect(() => validateSchema(deployment!)).not.toThrow();
      expect(Object.fromEntries(unknownFieldErrors([{ id: 'merged', object: deployment! }]))).toEqual({});
    }, 60_000);
  });
});
