/**
 * The Kubernetes pod specs run as pods: each CronJob's pod template, the on-call warm-up
 * Job's and the schedule Deployment's (k8s/overlays/schedule/), with `podman kube play`, the
 * image in place of the logical name `stats-refresh` (as the kustomizations' `images:` map
 * it), the real ConfigMap (k8s/base/configmap.yaml) and a Secret holding the test's
 * connection strings (PostgreSQL as the least-privilege role), on the host's network. Each
 * one-shot pod must exit 0 having written its family's keys with its own TTL; the
 * Deployment's pod must answer its probes' /healthz with 200 once every family has run,
 * hold the keys with the ConfigMap's TTL, and exit 0 within its terminationGracePeriodSeconds
 * when stopped. Each runs with the manifest's settings, as podman applied them: uid and gid,
 * read-only root, no capabilities, no-new-privileges, the memory and CPU limits, the /tmp
 * volume, env from the ConfigMap and the Secret.
 *
 * What podman does not carry out, and test/deploy/k8s.test.ts checks on the manifests
 * instead: the CronJob fields (schedule, timeZone, concurrencyPolicy, startingDeadlineSeconds,
 * history limits), the Job fields (backoffLimit, activeDeadlineSeconds,
 * ttlSecondsAfterFinished, podFailurePolicy, generateName), the Deployment's (replicas,
 * strategy; podman runs no probes without systemd, so the test asks the probes' URL itself),
 * and in the pod automountServiceAccountToken, enableServiceLinks,
 * terminationGracePeriodSeconds (the test stops the Deployment's pod with it), runAsNonRoot (podman runs the given uid without verifying it), seccompProfile
 * RuntimeDefault (podman applies its own default profile either way), resource requests
 * and the emptyDir's sizeLimit. The kustomizations and the API Deployment patch are
 * rendered by `kubectl kustomize` there too.
 *
 * One rule podman 4.3 gets wrong: Kubernetes lets a container's `env` win over the same
 * name from `envFrom`; podman lets the ConfigMap win (a CronJob's STATS_CACHE_TTL 510 became
 * the ConfigMap's 750). Each pod is therefore played with the ConfigMap less the names its
 * container sets itself, which is what Kubernetes hands the container.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IProbe } from 'kubernetes-models/v1/Probe';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KObject, loadManifests, podSpecOf } from '../deploy/manifests.js';
import { type ReadOnlyRole, readOnlyRole } from '../helpers/read-only-role.js';
import { databaseFromTemplate, goldenTemplate, type TestDatabase } from '../helpers/services.js';
import { RedisServer, type TestRedisClient } from '../helpers/redis-server.js';
import { IMAGE, PROJECT_ROOT, inspect, podman, podmanOk, waitFor } from './engine.js';

const CONFIGMAP_FILE = join(PROJECT_ROOT, 'k8s/base/configmap.yaml');
const LOGICAL_IMAGE = 'stats-refresh';

const MANIFESTS = loadManifests();
const WORKLOADS = MANIFESTS
  .filter((manifest) => (manifest.object.kind === 'CronJob' && manifest.file.startsWith('k8s/base/')) || manifest.object.kind === 'Job')
  .map((manifest) => ({ file: manifest.file, object: manifest.object }));
const SCHEDULE = MANIFESTS.find((manifest) => manifest.file === 'k8s/overlays/schedule/deployment.yaml')!;

let work: string;
let database: TestDatabase;
let role: ReadOnlyRole;
let redis: RedisServer;
let client: TestRedisClient;
let secretName: string;

/** Kubernetes quantities as podman stores them: memory in bytes, CPU in quota per 100 ms period. */
function memoryBytes(quantity: string): number {
  const match = /^(\d+)(Ki|Mi|Gi)?$/.exec(quantity);
  if (!match) throw new Error(`memory quantity ${quantity} not understood`);
  return Number(match[1]) * { '': 1, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 }[match[2] ?? '']!;
}
function cpuQuota(quantity: string): number {
  const cores = quantity.endsWith('m') ? Number(quantity.slice(0, -1)) / 1000 : Number(quantity);
  return Math.round(cores * 100_000);
}

/**
 * The workload's pod template as a Pod named `name`, running the image under test. Without
 * its containers' `ports`: podman 4.3 refuses them on the host's network ("PortMappings can
 * only be used with Bridge or slirp4netns networking"), where they declare nothing anyway;
 * the test resolves the probes' named port from the manifest itself.
 */
function podOf(workload: KObject, name: string): KObject {
  const spec = structuredClone(podSpecOf(workload)!);
  for (const container of [...(spec.initContainers ?? []), ...spec.containers]) {
    if (container.image === LOGICAL_IMAGE) container.image = IMAGE;
    delete container.ports;
  }
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { 'stats-refresh-check': String(process.pid) } }, spec } as KObject;
}

interface PlayedPod {
  readonly name: string;
  readonly spec: IPodSpec;
  /** The manifest's (first) container. */
  readonly manifest: IContainer;
  /** podman's name for that container. */
  readonly container: string;
}

/** `podman kube play` of the workload's pod template, with the ConfigMap as Kubernetes hands it to the container. */
async function play(file: string, workload: KObject): Promise<PlayedPod> {
  const name = `sr-${file.replace(/^.*\//, '').replace(/\.yaml$/, '')}-${process.pid}`;
  const podFile = join(work, `${name}.yaml`);
  writeFileSync(podFile, stringify(podOf(workload, name)));
  const spec = podSpecOf(workload)!;
  const manifest = spec.containers[0]!;
  // Kubernetes' precedence: the container's own env over the ConfigMap's (see above).
  const configMap = parse(readFileSync(CONFIGMAP_FILE, 'utf8')) as { data: Record<string, string> };
  for (const entry of manifest.env ?? []) delete configMap.data[entry.name];
  const configMapFile = join(work, `${name}-configmap.yaml`);
  writeFileSync(configMapFile, stringify(configMap));
  const played = await podman(['kube', 'play', '--network', 'host', '--configmap', configMapFile, podFile], 180_000);
  expect(played.code, played.stderr).toBe(0);
  return { name, spec, manifest, container: `${name}-${manifest.name}` };
}

/** The manifest's settings, as podman applied them to the container; its environment. */
async function expectSettings(pod: PlayedPod): Promise<Map<string, string>> {
  const { spec, manifest } = pod;
  const state = await inspect('container', pod.container);
  const security = { ...spec.securityContext, ...manifest.securityContext };
  expect(state.Config.User).toBe(`${security.runAsUser}:${security.runAsGroup}`);
  expect(state.Config.User).toBe((await inspect('image', IMAGE)).Config.User);
  expect(state.HostConfig.ReadonlyRootfs).toBe(security.readOnlyRootFilesystem);
  expect(manifest.securityContext?.capabilities?.drop).toEqual(['ALL']);
  expect(state.EffectiveCaps ?? []).toEqual([]);
  expect(security.allowPrivilegeEscalation).toBe(false);
  expect(state.HostConfig.SecurityOpt).toContain('no-new-privileges');
  expect(state.HostConfig.Memory).toBe(memoryBytes(String(manifest.resources!.limits!.memory)));
  expect(state.HostConfig.CpuQuota / state.HostConfig.CpuPeriod).toBe(cpuQuota(String(manifest.resources!.limits!.cpu)) / 100_000);
  expect((state.Mounts as Array<{ Destination: string }>).map((mount) => mount.Destination)).toContain('/tmp');
  const env = new Map((state.Config.Env as string[]).map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]));
  expect(env.get('DATABASE_URL')).toBe(role.url);
  expect(env.get('LOG_LEVEL')).toBe('info');
  return env;
}

/** Every key with a TTL in (ttl - 120, ttl]: written by this pod, with the TTL its manifest gives it. */
async function expectTtls(keys: readonly string[], ttl: number): Promise<void> {
  expect(keys.length).toBeGreaterThan(0);
  for (const key of keys) {
    const left = await client.ttl(key);
    expect(left, key).toBeGreaterThan(ttl - 120);
    expect(left, key).toBeLessThanOrEqual(ttl);
  }
}

function expectJsonLines(stderr: string): void {
  for (const line of stderr.split('\n').filter(Boolean)) expect(() => JSON.parse(line), line).not.toThrow();
}

/** The URL a probe's httpGet asks on the pod (host network: 127.0.0.1), its named port resolved. */
function probeUrl(probe: IProbe, container: IContainer): string {
  const { path, port, scheme } = probe.httpGet!;
  const number = typeof port === 'number' ? port : container.ports?.find((candidate) => candidate.name === port)?.containerPort;
  return `${(scheme ?? 'HTTP').toLowerCase()}://127.0.0.1:${number}${path}`;
}

/** Whether something already listens on 127.0.0.1:port (then the pod, on the host's network, cannot). */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const end = (answer: boolean) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(2000);
    socket.once('connect', () => end(true));
    socket.once('error', () => end(false));
    socket.once('timeout', () => end(false));
  });
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'stats-refresh-kube-'));
  database = await databaseFromTemplate(goldenTemplate(), 'kube');
  role = await readOnlyRole(database);
  redis = await RedisServer.start();
  client = await redis.client(0);
  // The Secret the manifests name; podman 4.3 reads a kube secret as JSON, key -> base64 value.
  const names = new Set(
    [...WORKLOADS, SCHEDULE].flatMap((workload) =>
      podSpecOf(workload.object)!.containers.flatMap((container) => (container.env ?? []).map((entry) => entry.valueFrom?.secretKeyRef?.name).filter(Boolean)),
    ),
  );
  expect(names.size).toBe(1);
  secretName = [...names][0]!;
  // PostgreSQL as the least-privilege role of docs/operations.md, as the Secret's DATABASE_URL should be.
  const data = { DATABASE_URL: role.url, REDIS_URL: redis.url(0) };
  const file = join(work, 'secret.json');
  writeFileSync(file, JSON.stringify(Object.fromEntries(Object.entries(data).map(([key, value]) => [key, Buffer.from(value).toString('base64')]))));
  await podman(['secret', 'rm', secretName], 30_000);
  await podmanOk(['secret', 'create', secretName, file]);
});

afterAll(async () => {
  const pods = await podman(['pod', 'ps', '--quiet', '--filter', `label=stats-refresh-check=${process.pid}`]);
  for (const pod of pods.stdout.split('\n').filter(Boolean)) await podman(['pod', 'rm', '--force', pod], 60_000);
  if (secretName) await podman(['secret', 'rm', secretName], 30_000);
  await client?.close();
  await redis?.stop();
  await role?.drop();
  await database?.drop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('podman kube play of the pod specs', () => {
  it('covers the three CronJobs, the on-call Job and the schedule Deployment', () => {
    expect(WORKLOADS.map((workload) => workload.file).sort()).toEqual([
      'k8s/base/cronjob-dashboard.yaml',
      'k8s/base/cronjob-executions.yaml',
      'k8s/base/cronjob-users.yaml',
      'k8s/jobs/warmup-job.yaml',
    ]);
    expect(SCHEDULE.object.kind).toBe('Deployment');
  });

  it.each(WORKLOADS.map((workload) => [workload.file, workload] as const))('%s runs as a pod: exit 0, its keys written with its TTL, under its settings', async (file, workload) => {
    await client.flushdb();
    const pod = await play(file, workload.object);
    const waited = await podman(['wait', pod.container], 180_000);
    expect(waited.stdout.trim(), waited.stderr).toBe('0');
    const state = await inspect('container', pod.container);
    const logs = await podman(['logs', pod.container]);
    expect(state.State.ExitCode, logs.stderr).toBe(0);
    const env = await expectSettings(pod);
    const ownTtl = pod.manifest.env?.find((entry) => entry.name === 'STATS_CACHE_TTL')?.value;

    // Its family's keys, with its TTL.
    const summary = JSON.parse(logs.stdout.trim()) as { failed: number; cache_keys: string[] };
    expect(summary.failed).toBe(0);
    await expectTtls(summary.cache_keys, Number(ownTtl ?? env.get('STATS_CACHE_TTL')));
    expectJsonLines(logs.stderr);
    await podmanOk(['pod', 'rm', '--force', pod.name], 60_000);
  }, 300_000);

  it('k8s/overlays/schedule/deployment.yaml runs as a pod: /healthz 200 at its probes\' URL once every family ran, its keys, a clean stop within its grace', async () => {
    await client.flushdb();
    const container = podSpecOf(SCHEDULE.object)!.containers[0]!;
    const urls = new Set([container.startupProbe, container.readinessProbe, container.livenessProbe].map((probe) => probeUrl(probe!, container)));
    expect(urls.size).toBe(1);
    const [url] = [...urls] as [string];
    const port = Number(new URL(url).port);
    // On the host's network the pod's port is the machine's: another check holding it would answer for the pod.
    expect(await listening(port), `something already listens on 127.0.0.1:${port}`).toBe(false);

    const pod = await play(SCHEDULE.file, SCHEDULE.object);
    const ask = async () => {
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
        return { status: response.status, body: (await response.json()) as { healthy: boolean; families: Record<string, { last_success: string | null }> } };
      } catch {
        return undefined;
      }
    };
    const health = await waitFor(
      'every family run, seen at /healthz',
      async () => {
        const answer = await ask();
        return answer && Object.values(answer.body.families).every((family) => family.last_success !== null) ? answer : undefined;
      },
      150_000,
      1000,
    );
    expect(health.status, JSON.stringify(health.body)).toBe(200);
    expect(health.body.healthy).toBe(true);
    expect(Object.keys(health.body.families).sort()).toEqual(['dashboard', 'executions', 'users']);
    const metrics = await fetch(url.replace(/\/healthz$/, '/metrics'), { signal: AbortSignal.timeout(5000) });
    expect(metrics.status).toBe(200);

    const env = await expectSettings(pod);
    expect(pod.manifest.env?.some((entry) => entry.name === 'STATS_CACHE_TTL')).toBe(false);
    await expectTtls(await client.keys('stats_service:*'), Number(env.get('STATS_CACHE_TTL')));

    // SIGTERM, as Kubernetes stops it, with the manifest's grace before SIGKILL.
    const grace = pod.spec.terminationGracePeriodSeconds!;
    const stop = await podman(['pod', 'stop', '--time', String(grace), pod.name], (grace + 30) * 1000);
    expect(stop.code, stop.stderr).toBe(0);
    expect(stop.ms).toBeLessThan(grace * 1000);
    const state = await inspect('container', pod.container);
    const logs = await podman(['logs', pod.container]);
    expect(state.State.ExitCode, logs.stderr).toBe(0);
    expect(logs.stdout).toBe('');
    expectJsonLines(logs.stderr);
    const messages = logs.stderr.split('\n').filter(Boolean).map((line) => (JSON.parse(line) as { msg: string }).msg);
    expect(messages).toEqual(expect.arrayContaining(['schedule started', 'schedule stopped']));
    expect(await ask()).toBeUndefined();
    await podmanOk(['pod', 'rm', '--force', pod.name], 60_000);
  }, 300_000);
});
