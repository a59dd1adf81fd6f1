/**
 * The Kubernetes pod specs run as pods: each CronJob's pod template and the on-call warm-up
 * Job's, with `podman kube play`, the image in place of the logical name `stats-refresh`
 * (as the kustomizations' `images:` map it), the real ConfigMap (k8s/base/configmap.yaml)
 * and a Secret holding the test's connection strings, on the host's network. Each pod must
 * exit 0 having written its family's keys with its own TTL, and run with the manifest's
 * settings, as podman applied them: uid and gid, read-only root, no capabilities,
 * no-new-privileges, the memory and CPU limits, the /tmp volume, env from the ConfigMap
 * and the Secret.
 *
 * What podman does not carry out, and test/deploy/k8s.test.ts checks on the manifests
 * instead: the CronJob fields (schedule, timeZone, concurrencyPolicy, startingDeadlineSeconds,
 * history limits), the Job fields (backoffLimit, activeDeadlineSeconds,
 * ttlSecondsAfterFinished, podFailurePolicy, generateName), and in the pod
 * automountServiceAccountToken, enableServiceLinks, terminationGracePeriodSeconds,
 * runAsNonRoot (podman runs the given uid without verifying it), seccompProfile
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
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KObject, loadManifests, podSpecOf } from '../deploy/manifests.js';
import { databaseFromTemplate, goldenTemplate, type TestDatabase } from '../helpers/services.js';
import { RedisServer, type TestRedisClient } from '../helpers/redis-server.js';
import { IMAGE, PROJECT_ROOT, inspect, podman, podmanOk } from './engine.js';

const CONFIGMAP_FILE = join(PROJECT_ROOT, 'k8s/base/configmap.yaml');
const LOGICAL_IMAGE = 'stats-refresh';

const WORKLOADS = loadManifests()
  .filter((manifest) => (manifest.object.kind === 'CronJob' && manifest.file.startsWith('k8s/base/')) || manifest.object.kind === 'Job')
  .map((manifest) => ({ file: manifest.file, object: manifest.object }));

let work: string;
let database: TestDatabase;
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

/** The workload's pod template as a Pod named `name`, running the image under test. */
function podOf(workload: KObject, name: string): KObject {
  const spec = structuredClone(podSpecOf(workload)!);
  for (const container of [...(spec.initContainers ?? []), ...spec.containers]) {
    if (container.image === LOGICAL_IMAGE) container.image = IMAGE;
  }
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { 'stats-refresh-check': String(process.pid) } }, spec } as KObject;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'stats-refresh-kube-'));
  database = await databaseFromTemplate(goldenTemplate(), 'kube');
  redis = await RedisServer.start();
  client = await redis.client(0);
  // The Secret the manifests name; podman 4.3 reads a kube secret as JSON, key -> base64 value.
  const names = new Set(
    WORKLOADS.flatMap((workload) => podSpecOf(workload.object)!.containers.flatMap((container) => (container.env ?? []).map((entry) => entry.valueFrom?.secretKeyRef?.name).filter(Boolean))),
  );
  expect(names.size).toBe(1);
  secretName = [...names][0]!;
  const data = { DATABASE_URL: database.url, REDIS_URL: redis.url(0) };
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
  await database?.drop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('podman kube play of the pod specs', () => {
  it('covers the three CronJobs and the on-call Job', () => {
    expect(WORKLOADS.map((workload) => workload.file).sort()).toEqual([
      'k8s/base/cronjob-dashboard.yaml',
      'k8s/base/cronjob-executions.yaml',
      'k8s/base/cronjob-users.yaml',
      'k8s/jobs/warmup-job.yaml',
    ]);
  });

  it.each(WORKLOADS.map((workload) => [workload.file, workload] as const))('%s runs as a pod: exit 0, its keys written with its TTL, under its settings', async (file, workload) => {
    await client.flushdb();
    const name = `sr-${file.replace(/^.*\//, '').replace(/\.yaml$/, '')}-${process.pid}`;
    const podFile = join(work, `${name}.yaml`);
    writeFileSync(podFile, stringify(podOf(workload.object, name)));
    const spec = podSpecOf(workload.object)!;
    const manifest = spec.containers[0]!;
    // Kubernetes' precedence: the container's own env over the ConfigMap's (see above).
    const configMap = parse(readFileSync(CONFIGMAP_FILE, 'utf8')) as { data: Record<string, string> };
    for (const entry of manifest.env ?? []) delete configMap.data[entry.name];
    const configMapFile = join(work, `${name}-configmap.yaml`);
    writeFileSync(configMapFile, stringify(configMap));
    const play = await podman(['kube', 'play', '--network', 'host', '--configmap', configMapFile, podFile], 180_000);
    expect(play.code, play.stderr).toBe(0);

    const container = `${name}-${manifest.name}`;
    const waited = await podman(['wait', container], 180_000);
    expect(waited.stdout.trim(), waited.stderr).toBe('0');
    const state = await inspect('container', container);
    const logs = await podman(['logs', container]);
    expect(state.State.ExitCode, logs.stderr).toBe(0);

    // The settings, as podman applied them.
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
    expect(env.get('DATABASE_URL')).toBe(database.url);
    expect(env.get('LOG_LEVEL')).toBe('info');
    const ownTtl = manifest.env?.find((entry) => entry.name === 'STATS_CACHE_TTL')?.value;
    const ttl = Number(ownTtl ?? env.get('STATS_CACHE_TTL'));

    // Its family's keys, with its TTL.
    const summary = JSON.parse(logs.stdout.trim()) as { failed: number; cache_keys: string[] };
    expect(summary.failed).toBe(0);
    expect(summary.cache_keys.length).toBeGreaterThan(0);
    for (const key of summary.cache_keys) {
      const left = await client.ttl(key);
      expect(left, key).toBeGreaterThan(ttl - 120);
      expect(left, key).toBeLessThanOrEqual(ttl);
    }
    for (const line of logs.stderr.split('\n').filter(Boolean)) expect(() => JSON.parse(line), line).not.toThrow();
    await podmanOk(['pod', 'rm', '--force', name], 60_000);
  }, 300_000);
});
