/**
 * The Kubernetes manifests (deploy/k8s), offline: `kubectl kustomize` renders the base and every
 * overlay; every object of a kind kubernetes-models knows passes its schema; and the values that
 * must agree do: probes and Prometheus annotations with the ports the services listen on (read
 * through the services' own configuration readers), the grace periods with the gateway's shutdown
 * and capture's hand-over, capture as a fleet (replicas, rollout, disruption budget), selectors
 * with pod labels, the Ingress with the Service, Secrets with the commands the README
 * gives, the security context with the images' user, the single Redis with deploy/redis's users
 * and every client with its own. No cluster is needed; CI has kubectl.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import * as kubernetesModels from 'kubernetes-models';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { IIngress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IService } from 'kubernetes-models/v1/Service';
import { parse, parseAllDocuments } from 'yaml';
import { readCaptureConfig } from '@camrelay/capture';
import { readGatewayConfig } from '@camrelay/gateway';
import { REDIS_PUBSUB_BUFFER_LIMIT, repoRoot } from '@camrelay/stack';
import { REDIS_USERS_ACL, passwordVariable } from './harness/acl-redis.js';
import { CAPTURE_STOP_GRACE_SECONDS } from './harness/capture-fleet.js';

const k8sDir = join(repoRoot, 'deploy', 'k8s');
const kustomizations = [
  join(k8sDir, 'base'),
  ...readdirSync(join(k8sDir, 'overlays'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => join(k8sDir, 'overlays', entry.name)),
];

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: unknown;
}

/** What this test reads of a KEDA ScaledObject (kubernetes-models has no schema for it). */
interface ScaledObject extends K8sObject {
  spec: {
    scaleTargetRef?: { apiVersion?: string; kind?: string; name?: string };
    minReplicaCount?: number;
    maxReplicaCount?: number;
    triggers?: Array<{ type?: string; metadata?: Record<string, string> }>;
  };
}

const renderings = new Map<string, K8sObject[]>();

/** `kubectl kustomize DIR`, parsed; a missing kubectl fails the test (CI has it), never skips it. */
function render(dir: string): K8sObject[] {
  const cached = renderings.get(dir);
  if (cached) return cached;
  const run = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  if (run.error) {
    assert.fail(
      `kubectl could not run (${run.error.message}): this test renders deploy/k8s with \`kubectl kustomize\`; install kubectl ≥ 1.27 (kustomize is built in)`,
    );
  }
  assert.equal(run.status, 0, `kubectl kustomize ${relative(repoRoot, dir)} failed:\n${run.stderr}`);
  const objects = parseAllDocuments(run.stdout).map((document) => {
    assert.deepEqual(document.errors, [], 'kubectl kustomize printed YAML that does not parse');
    return document.toJS() as K8sObject;
  });
  renderings.set(dir, objects);
  return objects;
}

type ModelClass = new (data: unknown) => { validate(): void };

/** kubernetes-models' class for an apiVersion and kind: `networking.k8s.io/v1` is `networkingK8sIo.v1`, core `v1` is `v1`. */
function modelFor(apiVersion: string, kind: string): ModelClass | undefined {
  const [group, version] = apiVersion.includes('/') ? (apiVersion.split('/') as [string, string]) : ['', apiVersion];
  const groupKey = group.replace(/\.(\w)/g, (_, letter: string) => letter.toUpperCase());
  const root = kubernetesModels as unknown as Record<string, Record<string, unknown> | undefined>;
  const versions = group === '' ? root : (root[groupKey] as Record<string, Record<string, unknown> | undefined> | undefined);
  const model = versions?.[version]?.[kind];
  return typeof model === 'function' ? (model as ModelClass) : undefined;
}

/** Kinds outside kubernetes-models that this test checks by hand (see the autoscaler test). */
const HAND_CHECKED_KINDS = new Set(['keda.sh/v1alpha1/ScaledObject']);

const byKind = <T extends K8sObject = K8sObject>(objects: K8sObject[], kind: string) =>
  objects.filter((object) => object.kind === kind) as T[];

/** The camrelay services the manifests run, and what each one's sources say about it. */
const SERVICES = {
  gateway: {
    dockerfile: 'services/gateway/Dockerfile',
    routes: ['streams', 'api', 'drop-in', 'health'].flatMap((file) =>
      sourceMatches(`services/gateway/src/http/routes/${file}.ts`, /router\.get\('(\/[a-z]+)'/g),
    ),
    readinessPath: '/readyz',
    /** Where it listens, by its own configuration reader. */
    listens(env: Record<string, string>) {
      const config = readGatewayConfig(env, 'redis');
      return { port: config.PORT, host: config.HOST };
    },
    read: (env: Record<string, string>) => readGatewayConfig(env, 'redis'),
  },
  capture: {
    dockerfile: 'services/capture/Dockerfile',
    routes: sourceMatches('services/capture/src/health.ts', /req\.url === '(\/[a-z]+)'/g),
    // Capture has no /readyz: nothing routes traffic to it.
    readinessPath: '/healthz',
    listens(env: Record<string, string>) {
      const config = readCaptureConfig(env);
      return { port: config.HEALTH_PORT, host: config.HEALTH_HOST };
    },
    read: (env: Record<string, string>) => readCaptureConfig(env),
  },
} as const;
type ServiceName = keyof typeof SERVICES;

/** Variables of Node itself that a pod may set beside the services' own. */
const NODE_VARIABLES = new Set(['NODE_EXTRA_CA_CERTS', 'NODE_OPTIONS', 'UV_THREADPOOL_SIZE']);

/** Stand-ins for values that come from Secrets, in the forms the services accept; none is a real secret. */
const SECRET_SAMPLES: Record<string, string> = {
  API_TOKENS: 'k8s-test-token-not-a-secret',
  URL_SIGNING_KEY: 'k8s-test-signing-key-not-a-secret-0123456789',
  REDIS_CLUSTER_NODES:
    'redis://:k8s-test-password@redis-cluster-0.redis-cluster-headless.redis.svc.cluster.local:6379,redis-cluster-1.redis-cluster-headless.redis.svc.cluster.local:6379',
  // In the form the documented command builds them (checked below).
  CAPTURE_REDIS_URL: 'redis://capture:k8stestpassword0123456789@redis:6379',
  GATEWAY_REDIS_URL: 'redis://gateway:k8stestpassword0123456789@redis:6379',
};

function sourceMatches(file: string, pattern: RegExp): string[] {
  return [...readFileSync(join(repoRoot, file), 'utf8').matchAll(pattern)].map((match) => match[1]!);
}

/** The camrelay Deployments of a rendering, by the component label they carry. */
function camrelayDeployments(objects: K8sObject[]) {
  return byKind<IDeployment & K8sObject>(objects, 'Deployment')
    .map((deployment) => ({ deployment, service: deployment.spec?.template.metadata?.labels?.['app.kubernetes.io/component'] }))
    .filter(
      (entry): entry is { deployment: IDeployment & K8sObject; service: ServiceName } =>
        typeof entry.service === 'string' && entry.service in SERVICES,
    );
}

function podSpecOf(deployment: IDeployment): IPodSpec {
  const spec = deployment.spec?.template.spec;
  assert.ok(spec, `${deployment.metadata?.name}: no pod spec`);
  return spec;
}

function onlyContainer(deployment: IDeployment): IContainer {
  const containers = podSpecOf(deployment).containers;
  assert.equal(containers.length, 1, `${deployment.metadata?.name}: one container`);
  return containers[0]!;
}

/** The container's environment as the process sees it, with sample values for Secrets. */
function environmentOf(container: IContainer): Record<string, string> {
  const env: Record<string, string> = {};
  for (const variable of container.env ?? []) {
    const secret = variable.valueFrom?.secretKeyRef;
    if (variable.value !== undefined) env[variable.name] = variable.value;
    else if (secret) {
      const sample = SECRET_SAMPLES[secret.key];
      assert.ok(sample !== undefined, `${variable.name}: no sample value for Secret key ${secret.key} in SECRET_SAMPLES`);
      env[variable.name] = sample;
    } else assert.fail(`${variable.name}: only literal values and secretKeyRef are checked; add the other source here`);
  }
  return env;
}

/** A container port by name or number; its number. */
function containerPort(container: IContainer, port: number | string | undefined): number | undefined {
  return typeof port === 'number'
    ? container.ports?.find((entry) => entry.containerPort === port)?.containerPort
    : container.ports?.find((entry) => entry.name === port)?.containerPort;
}

function selects(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  assert.ok(selector && Object.keys(selector).length > 0, 'an empty selector selects everything');
  return Object.entries(selector).every(([key, value]) => labels?.[key] === value);
}

/** Secrets deploy/k8s/README.md tells users to create: name → keys (a TLS secret has none we read). */
function documentedSecrets(): Map<string, Set<string>> {
  const readme = readFileSync(join(k8sDir, 'README.md'), 'utf8');
  const secrets = new Map<string, Set<string>>();
  for (const match of readme.matchAll(/kubectl (?:-n \S+ )?create secret (generic|tls) ([a-z0-9-]+)((?:[^\n]*\\\n)*[^\n]*)/g)) {
    const keys = [...match[3]!.matchAll(/--from-(?:literal|file)=([A-Za-z0-9_.-]+)=/g)].map((key) => key[1]!);
    secrets.set(match[2]!, new Set([...(secrets.get(match[2]!) ?? []), ...keys]));
  }
  return secrets;
}

/** What the README's `kubectl create secret generic` commands put in each Secret: name → key → the value as written. */
function documentedLiterals(): Map<string, Map<string, string>> {
  const readme = readFileSync(join(k8sDir, 'README.md'), 'utf8');
  const secrets = new Map<string, Map<string, string>>();
  for (const match of readme.matchAll(/kubectl (?:-n \S+ )?create secret generic ([a-z0-9-]+)((?:[^\n]*\\\n)*[^\n]*)/g)) {
    const literals = secrets.get(match[1]!) ?? new Map<string, string>();
    for (const literal of match[2]!.matchAll(/--from-literal=([A-Za-z0-9_.-]+)=("[^"]*"|\S+)/g))
      literals.set(literal[1]!, literal[2]!.replace(/^"(.*)"$/, '$1'));
    secrets.set(match[1]!, literals);
  }
  return secrets;
}

/** preStop sleep in seconds: `sleep N` in an exec hook, or the kubelet's own sleep action. */
function preStopSeconds(container: IContainer): number {
  const preStop = container.lifecycle?.preStop;
  if (preStop?.sleep) return preStop.sleep.seconds;
  const command = preStop?.exec?.command ?? [];
  if (command.length === 2 && /(^|\/)sleep$/.test(command[0]!)) return Number(command[1]);
  assert.ok(!preStop, `unrecognised preStop hook ${JSON.stringify(preStop)}: read its duration here`);
  return 0;
}

/** The uid a Dockerfile's final USER runs as: numeric, or `node`, which the Node base images create. */
function imageUid(dockerfile: string): number {
  const users = [...readFileSync(join(repoRoot, dockerfile), 'utf8').matchAll(/^USER (\S+)$/gm)].map((match) => match[1]!);
  const user = users.at(-1);
  assert.ok(user, `${dockerfile}: runs as root (no USER)`);
  if (/^\d+$/.test(user)) return Number(user);
  assert.equal(user, 'node', `${dockerfile}: USER ${user}: read its uid here`);
  // The official node images and `npm run docker:images`' stand-in both create node with this uid.
  const standIn = /useradd --uid (\d+) [^\n]*\bnode\b/.exec(readFileSync(join(repoRoot, 'scripts', 'docker-images.mjs'), 'utf8'));
  assert.ok(standIn, 'scripts/docker-images.mjs creates the node user with a fixed uid');
  return Number(standIn[1]);
}

/** Metric names the gateway exports, from its sources (the autoscalers' queries must name one). */
const gatewayMetrics = new Set(sourceMatches('services/gateway/src/metrics.ts', /name: '(camrelay_[a-z_]+)'/g));

describe('deploy/k8s', () => {
  it('every component is used by an overlay, so that every one is rendered here', () => {
    const used = new Set(
      kustomizations.flatMap((dir) => {
        const kustomization = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as { components?: string[] };
        return (kustomization.components ?? []).map((component) => resolve(dir, component));
      }),
    );
    const components = readdirSync(join(k8sDir, 'components')).map((name) => join(k8sDir, 'components', name));
    assert.ok(components.length > 0);
    for (const component of components) assert.ok(used.has(component), `${relative(repoRoot, component)} is in no overlay`);
  });

  for (const dir of kustomizations) {
    const name = relative(k8sDir, dir);
    describe(name, () => {
      it('renders, and every object passes its Kubernetes schema (kinds kubernetes-models lacks are checked by hand)', () => {
        const objects = render(dir);
        assert.ok(objects.length > 0);
        const problems: string[] = [];
        for (const object of objects) {
          const model = modelFor(object.apiVersion, object.kind);
          if (!model) {
            assert.ok(
              HAND_CHECKED_KINDS.has(`${object.apiVersion}/${object.kind}`),
              `${object.apiVersion} ${object.kind}: no schema and no check`,
            );
            continue;
          }
          try {
            new model(object).validate();
          } catch (error) {
            problems.push(`${object.kind} ${object.metadata.name}: ${(error as Error).message}`);
          }
        }
        assert.deepEqual(problems, []);
      });

      it('puts everything in one namespace, one object per kind and name', () => {
        const objects = render(dir);
        const namespaces = new Set(objects.filter((object) => object.kind !== 'Namespace').map((object) => object.metadata.namespace));
        assert.equal(
          namespaces.size,
          1,
          `namespaces: ${[...namespaces].join(', ')} (objects a component adds take the overlay's namespace)`,
        );
        const namespace = [...namespaces][0];
        assert.ok(namespace);
        assert.deepEqual(
          byKind(objects, 'Namespace').map((object) => object.metadata.name),
          [namespace],
        );
        const ids = objects.map((object) => `${object.kind}/${object.metadata.name}`);
        assert.deepEqual(ids, [...new Set(ids)]);
      });

      it('a capture and a gateway Deployment exist, and name their images as compose builds them', () => {
        const deployments = camrelayDeployments(render(dir));
        assert.equal(deployments.filter((entry) => entry.service === 'capture').length, 1);
        assert.equal(deployments.filter((entry) => entry.service === 'gateway').length, 1);
        for (const { deployment, service } of deployments) {
          assert.match(onlyContainer(deployment).image ?? '', new RegExp(`(^|/)camrelay-${service}(:|@|$)`));
        }
      });

      it('sets only variables the services read, with values they start with', () => {
        for (const { deployment, service } of camrelayDeployments(render(dir))) {
          const env = environmentOf(onlyContainer(deployment));
          const { read } = SERVICES[service];
          assert.doesNotThrow(() => read(env), `${service}: its configuration reader refuses the pod's environment`);
          // zod drops variables a schema does not know, so a misspelt one would deploy as if
          // unset: a variable the reader knows is one whose nonsense value it refuses by name.
          for (const variable of Object.keys(env).filter((key) => !NODE_VARIABLES.has(key))) {
            assert.throws(
              () => read({ ...env, [variable]: '\u0000' }),
              (error: Error) => error.message.includes(`\n  ${variable}=`),
              `${service}: ${variable} is not a variable ${service} reads`,
            );
          }
        }
      });

      it('probes and Prometheus annotations point at the port and paths each service serves, on an address the kubelet reaches', () => {
        for (const { deployment, service } of camrelayDeployments(render(dir))) {
          const container = onlyContainer(deployment);
          const { port, host } = SERVICES[service].listens(environmentOf(container));
          const label = `${service} (listening on ${host ?? '*'}:${port})`;
          assert.ok(
            host === undefined || host === '0.0.0.0' || host === '::',
            `${label}: the kubelet and Prometheus reach a pod on its IP, not loopback`,
          );
          assert.ok(
            container.ports?.some((entry) => entry.containerPort === port),
            `${label}: no containerPort ${port}`,
          );
          const probes = { readiness: container.readinessProbe, liveness: container.livenessProbe };
          const expectedPaths = { readiness: SERVICES[service].readinessPath, liveness: '/healthz' };
          for (const [kind, probe] of Object.entries(probes) as Array<[keyof typeof probes, (typeof probes)['readiness']]>) {
            const httpGet = probe?.httpGet;
            assert.ok(httpGet, `${label}: no HTTP ${kind} probe`);
            assert.equal(containerPort(container, httpGet.port), port, `${label}: ${kind} probe port ${httpGet.port}`);
            assert.equal(httpGet.path, expectedPaths[kind], `${label}: ${kind} probe path`);
            assert.ok(SERVICES[service].routes.includes(httpGet.path), `${label}: ${service} does not serve ${httpGet.path}`);
          }
          const annotations = deployment.spec?.template.metadata?.annotations ?? {};
          assert.equal(annotations['prometheus.io/scrape'], 'true', `${label}: prometheus.io/scrape`);
          assert.equal(annotations['prometheus.io/port'], String(port), `${label}: prometheus.io/port`);
          assert.equal(annotations['prometheus.io/path'], '/metrics', `${label}: prometheus.io/path`);
          assert.ok(SERVICES[service].routes.includes('/metrics'));
        }
      });

      it('gives a stopping gateway time for preStop, SHUTDOWN_DELAY and DRAIN_TIMEOUT before SIGKILL', () => {
        for (const { deployment, service } of camrelayDeployments(render(dir)).filter((entry) => entry.service === 'gateway')) {
          const container = onlyContainer(deployment);
          const config = readGatewayConfig(environmentOf(container), 'redis');
          const preStop = preStopSeconds(container);
          assert.ok(preStop > 0, `${service}: a preStop pause lets the ingress controller drop the pod before it refuses viewers`);
          // Closing the bus and exiting after the drain.
          const margin = 2;
          const needed = preStop + config.SHUTDOWN_DELAY + config.DRAIN_TIMEOUT + margin;
          const grace = podSpecOf(deployment).terminationGracePeriodSeconds ?? 30;
          assert.ok(
            grace >= needed,
            `terminationGracePeriodSeconds ${grace} < preStop ${preStop} + SHUTDOWN_DELAY ${config.SHUTDOWN_DELAY} + DRAIN_TIMEOUT ${config.DRAIN_TIMEOUT} + ${margin}`,
          );
        }
      });

      it('runs capture as a fleet: two or more pods, rolled over one at a time, a disruption budget that keeps one', () => {
        const objects = render(dir);
        const { deployment } = camrelayDeployments(objects).find((entry) => entry.service === 'capture')!;
        const replicas = deployment.spec?.replicas ?? 1;
        assert.ok(replicas >= 2, `replicas ${replicas}: one pod may go (a drain, a rollout, a crash) while another holds its cameras`);
        // Recreate would stop every pod at once: every camera dark until the new ones start.
        const strategy = deployment.spec?.strategy;
        assert.equal(strategy?.type ?? 'RollingUpdate', 'RollingUpdate', 'not Recreate');
        assert.ok(
          [0, '0%'].includes(strategy?.rollingUpdate?.maxUnavailable ?? '25%'),
          `maxUnavailable ${strategy?.rollingUpdate?.maxUnavailable}: a new pod joins the fleet before an old one hands its cameras over`,
        );
        assert.ok(
          ![0, '0%'].includes(strategy?.rollingUpdate?.maxSurge ?? '25%'),
          'maxSurge above 0, or a rollout with maxUnavailable 0 cannot start',
        );
        const budgets = byKind<IPodDisruptionBudget & K8sObject>(objects, 'PodDisruptionBudget').filter((budget) =>
          selects(budget.spec?.selector?.matchLabels, deployment.spec?.template.metadata?.labels),
        );
        assert.equal(budgets.length, 1, 'one PodDisruptionBudget covers the capture pods');
        const { minAvailable, maxUnavailable } = budgets[0]!.spec ?? {};
        assert.ok(
          (minAvailable === undefined) !== (maxUnavailable === undefined),
          'the budget sets minAvailable or maxUnavailable (one of them)',
        );
        assert.ok(
          typeof (minAvailable ?? maxUnavailable) === 'number',
          `the budget in pods, not a percentage (${minAvailable ?? maxUnavailable}): read it here if that changes`,
        );
        const keeps = minAvailable !== undefined ? Number(minAvailable) : replicas - Number(maxUnavailable);
        assert.ok(keeps >= 1, `the budget keeps ${keeps} pods: a drain could take every camera's holder at once`);
        assert.ok(keeps <= replicas - 1, `the budget keeps ${keeps} of ${replicas} pods: no drain could evict any`);
      });

      it('gives a stopping capture pod time to hand its cameras over before SIGKILL, and SIGTERM reaches node', () => {
        for (const { deployment } of camrelayDeployments(render(dir)).filter((entry) => entry.service === 'capture')) {
          const grace = podSpecOf(deployment).terminationGracePeriodSeconds ?? 30;
          assert.ok(
            grace >= CAPTURE_STOP_GRACE_SECONDS,
            `terminationGracePeriodSeconds ${grace} < ${CAPTURE_STOP_GRACE_SECONDS}: SIGKILL would cut the hand-over short`,
          );
          const container = onlyContainer(deployment);
          // The image's CMD (exec form, node itself; test/deploy.test.ts checks it) receives the
          // kubelet's SIGTERM. A command here could put a shell in between.
          assert.equal(container.command, undefined, "capture runs the image's own entrypoint and CMD");
          assert.equal(container.args, undefined, "capture runs the image's own CMD");
          assert.ok(!container.lifecycle?.preStop, 'no preStop: the hand-over starts at SIGTERM and needs the whole grace period');
        }
      });

      it('runs every pod as a non-root user the image has, read-only, without privileges, under RuntimeDefault seccomp', () => {
        const objects = render(dir);
        const uids = new Map(
          camrelayDeployments(objects).map(({ deployment, service }) => [deployment, imageUid(SERVICES[service].dockerfile)]),
        );
        for (const deployment of byKind<IDeployment & K8sObject>(objects, 'Deployment')) {
          const pod = podSpecOf(deployment);
          assert.equal(pod.automountServiceAccountToken, false, `${deployment.metadata.name}: no API token in the pod`);
          for (const container of [...(pod.initContainers ?? []), ...pod.containers]) {
            const label = `${deployment.metadata.name}/${container.name}`;
            const context = container.securityContext ?? {};
            const runAsUser = context.runAsUser ?? pod.securityContext?.runAsUser;
            assert.equal(context.runAsNonRoot ?? pod.securityContext?.runAsNonRoot, true, `${label}: runAsNonRoot`);
            assert.ok(Number.isInteger(runAsUser) && runAsUser! > 0, `${label}: a numeric runAsUser other than root`);
            const imageUser = uids.get(deployment);
            if (imageUser !== undefined) assert.equal(runAsUser, imageUser, `${label}: the image's USER`);
            assert.equal(context.allowPrivilegeEscalation, false, `${label}: allowPrivilegeEscalation`);
            assert.equal(context.readOnlyRootFilesystem, true, `${label}: readOnlyRootFilesystem`);
            assert.ok(context.capabilities?.drop?.includes('ALL'), `${label}: capabilities drop ALL`);
            assert.ok(!context.privileged && !(context.capabilities?.add ?? []).length, `${label}: no privileges added`);
            assert.equal(
              context.seccompProfile?.type ?? pod.securityContext?.seccompProfile?.type,
              'RuntimeDefault',
              `${label}: seccompProfile RuntimeDefault`,
            );
            for (const mount of container.volumeMounts ?? []) {
              const volume = pod.volumes?.find((entry) => entry.name === mount.name);
              assert.ok(volume, `${label}: mounts ${mount.name}, which is not a volume`);
              assert.ok(
                volume.emptyDir || volume.secret || volume.configMap,
                `${label}: ${mount.name} is an emptyDir, Secret or ConfigMap`,
              );
            }
          }
        }
      });

      it('has Prometheus scrape a port of the pod it annotates (Redis: its exporter)', () => {
        for (const deployment of byKind<IDeployment & K8sObject>(render(dir), 'Deployment')) {
          const annotations = deployment.spec?.template.metadata?.annotations ?? {};
          if (annotations['prometheus.io/scrape'] !== 'true') continue;
          const port = Number(annotations['prometheus.io/port']);
          assert.ok(
            podSpecOf(deployment).containers.some((container) => container.ports?.some((entry) => entry.containerPort === port)),
            `${deployment.metadata.name}: prometheus.io/port ${port} is no container port`,
          );
        }
      });

      it('Services, the PodDisruptionBudgets and the Ingress select pods and ports that exist', () => {
        const objects = render(dir);
        const deployments = byKind<IDeployment & K8sObject>(objects, 'Deployment');
        const services = byKind<IService & K8sObject>(objects, 'Service');
        for (const service of services) {
          const matched = deployments.filter((deployment) => selects(service.spec?.selector, deployment.spec?.template.metadata?.labels));
          assert.equal(matched.length, 1, `Service ${service.metadata.name} selects the pods of one Deployment`);
          const containers = podSpecOf(matched[0]!).containers;
          for (const port of service.spec?.ports ?? []) {
            assert.ok(
              containers.some((container) => containerPort(container, port.targetPort ?? port.port) !== undefined),
              `Service ${service.metadata.name}: targetPort ${port.targetPort} is no port of ${matched[0]!.metadata.name}`,
            );
          }
        }
        for (const deployment of deployments) {
          assert.ok(
            selects(deployment.spec?.selector.matchLabels, deployment.spec?.template.metadata?.labels),
            `${deployment.metadata.name}: its selector matches its own pods`,
          );
        }
        const budgets = byKind<IPodDisruptionBudget & K8sObject>(objects, 'PodDisruptionBudget');
        for (const { deployment, service } of camrelayDeployments(objects)) {
          assert.ok(
            budgets.some((budget) => selects(budget.spec?.selector?.matchLabels, deployment.spec?.template.metadata?.labels)),
            `a PodDisruptionBudget covers the ${service} pods`,
          );
        }
        for (const budget of budgets) {
          assert.ok(
            deployments.some((deployment) => selects(budget.spec?.selector?.matchLabels, deployment.spec?.template.metadata?.labels)),
            `PodDisruptionBudget ${budget.metadata.name} selects no pods`,
          );
        }
        const ingresses = byKind<IIngress & K8sObject>(objects, 'Ingress');
        assert.ok(ingresses.length > 0);
        const secrets = documentedSecrets();
        for (const ingress of ingresses) {
          for (const path of ingress.spec?.rules?.flatMap((rule) => rule.http?.paths ?? []) ?? []) {
            const backend = path.backend.service;
            const service = services.find((entry) => entry.metadata.name === backend?.name);
            assert.ok(service, `Ingress ${ingress.metadata.name}: no Service ${backend?.name}`);
            assert.ok(
              service.spec?.ports?.some((port) => port.name === backend?.port?.name || port.port === backend?.port?.number),
              `Ingress ${ingress.metadata.name}: Service ${service.metadata.name} has no port ${JSON.stringify(backend?.port)}`,
            );
          }
          for (const tls of ingress.spec?.tls ?? []) {
            assert.ok(
              secrets.has(tls.secretName ?? ''),
              `Ingress ${ingress.metadata.name}: deploy/k8s/README.md never creates Secret ${tls.secretName}`,
            );
          }
          const annotations = ingress.metadata.annotations ?? {};
          assert.equal(annotations['nginx.ingress.kubernetes.io/proxy-buffering'], 'off', 'a buffered stream shows nothing');
          assert.equal(annotations['nginx.ingress.kubernetes.io/proxy-request-buffering'], 'off');
          for (const timeout of ['proxy-read-timeout', 'proxy-send-timeout']) {
            assert.ok(Number(annotations[`nginx.ingress.kubernetes.io/${timeout}`]) >= 3600, `${timeout}: streams last for hours`);
          }
        }
      });

      it('takes every Secret from the ones deploy/k8s/README.md tells how to create', () => {
        const secrets = documentedSecrets();
        for (const deployment of byKind<IDeployment & K8sObject>(render(dir), 'Deployment')) {
          for (const container of podSpecOf(deployment).containers) {
            for (const variable of container.env ?? []) {
              const reference = variable.valueFrom?.secretKeyRef;
              if (!reference) continue;
              assert.ok(
                secrets.get(reference.name ?? '')?.has(reference.key),
                `${deployment.metadata.name}: ${variable.name} from Secret ${reference.name} key ${reference.key}, which no documented command creates`,
              );
            }
          }
        }
      });

      it("runs the single Redis on deploy/redis's users, with a password for each, and every client logs in as its own", () => {
        const objects = render(dir);
        const redis = byKind<IDeployment & K8sObject>(objects, 'Deployment').find((deployment) => deployment.metadata.name === 'redis');
        const configMaps = byKind<K8sObject & { data?: Record<string, string> }>(objects, 'ConfigMap');
        if (!redis) {
          // The redis-cluster component: the cluster's users are the cluster's (README).
          assert.deepEqual(configMaps, [], 'no ConfigMap of users without the single Redis');
          return;
        }
        const pod = podSpecOf(redis);
        const server = pod.containers.find((container) => container.name === 'redis');
        assert.ok(server, 'a container named redis');
        // As compose starts it: deploy/redis/start.sh, beside users.acl, from the ConfigMap of
        // that directory, holding its files as they are.
        assert.deepEqual(server.command, ['sh', '/etc/camrelay/redis/start.sh']);
        assert.ok(server.args?.includes(REDIS_PUBSUB_BUFFER_LIMIT), 'the pub/sub output buffer limit');
        const volumeAt = (path: string) =>
          pod.volumes?.find((volume) => volume.name === server.volumeMounts?.find((mount) => mount.mountPath === path)?.name);
        const configMap = configMaps.find((object) => object.metadata.name === volumeAt('/etc/camrelay/redis')?.configMap?.name);
        assert.ok(configMap, 'a ConfigMap at /etc/camrelay/redis');
        for (const file of ['users.acl', 'start.sh'])
          assert.equal(configMap.data?.[file], readFileSync(join(repoRoot, 'deploy', 'redis', file), 'utf8'), `${file} is deploy/redis's`);
        assert.ok(volumeAt('/tmp')?.emptyDir, "an emptyDir at /tmp: start.sh's file of users (the root filesystem is read-only)");

        const secretRef = (container: IContainer, name: string) =>
          container.env?.find((variable) => variable.name === name)?.valueFrom?.secretKeyRef;
        const users = [...readFileSync(REDIS_USERS_ACL, 'utf8').matchAll(/^user (\w+) on /gm)].map((match) => match[1]!);
        assert.deepEqual(users.sort(), ['capture', 'exporter', 'gateway']);
        const passwords = new Map(users.map((user) => [user, secretRef(server, passwordVariable(user))]));
        for (const [user, reference] of passwords) assert.ok(reference, `${user}: ${passwordVariable(user)} from a Secret`);

        const exporter = pod.containers.find((container) => container.name === 'redis-exporter');
        assert.ok(exporter, 'the exporter beside Redis');
        assert.equal(exporter.env?.find((variable) => variable.name === 'REDIS_USER')?.value, 'exporter');
        assert.deepEqual(secretRef(exporter, 'REDIS_PASSWORD'), passwords.get('exporter'), "the exporter's password is its user's");

        // Capture and the gateways: REDIS_URL from a Secret key the documented command builds
        // from the same password their user gets, to the Service redis.
        const service = byKind<IService & K8sObject>(objects, 'Service').find((entry) => entry.metadata.name === 'redis');
        assert.ok(service, 'the Service redis');
        const literals = documentedLiterals();
        const written = (reference: { name?: string; key: string } | undefined) =>
          literals.get(reference?.name ?? '')?.get(reference?.key ?? '');
        for (const { deployment, service: user } of camrelayDeployments(objects)) {
          const password = written(passwords.get(user));
          assert.ok(password, `${user}: the documented command sets ${passwordVariable(user)}`);
          assert.equal(
            written(secretRef(onlyContainer(deployment), 'REDIS_URL')),
            `redis://${user}:${password}@${service.metadata.name}:${service.spec?.ports?.[0]?.port}`,
            `${user}: REDIS_URL logs in as ${user}`,
          );
        }
      });

      it('autoscalers target the gateway Deployment on a metric it exports, which then carries no replica count', () => {
        const objects = render(dir);
        const namespace = objects.find((object) => object.kind !== 'Namespace')?.metadata.namespace;
        const gateway = camrelayDeployments(objects).find((entry) => entry.service === 'gateway')!.deployment;
        const scaledObjects = byKind<ScaledObject>(objects, 'ScaledObject');
        const autoscalers = byKind<IHorizontalPodAutoscaler & K8sObject>(objects, 'HorizontalPodAutoscaler');
        for (const scaled of scaledObjects) {
          const label = `ScaledObject ${scaled.metadata.name}`;
          assert.equal(scaled.apiVersion, 'keda.sh/v1alpha1');
          assert.equal(scaled.spec.scaleTargetRef?.kind ?? 'Deployment', 'Deployment', label);
          assert.equal(scaled.spec.scaleTargetRef?.name, gateway.metadata.name, `${label}: scaleTargetRef`);
          const { minReplicaCount = 0, maxReplicaCount = 100 } = scaled.spec;
          assert.ok(
            minReplicaCount >= 2 && minReplicaCount <= maxReplicaCount,
            `${label}: 2 ≤ min ≤ max, so the disruption budget can let one go`,
          );
          const triggers = scaled.spec.triggers ?? [];
          assert.ok(triggers.length > 0, `${label}: no trigger`);
          for (const trigger of triggers) {
            assert.equal(trigger.type, 'prometheus', label);
            const { query = '', threshold = '', serverAddress = '' } = trigger.metadata ?? {};
            assert.ok(URL.canParse(serverAddress), `${label}: serverAddress`);
            assert.ok(Number(threshold) > 0, `${label}: threshold`);
            const metrics = query.match(/camrelay_[a-z_]+/g) ?? [];
            assert.ok(metrics.length > 0, `${label}: the query names no camrelay metric`);
            for (const metric of metrics) assert.ok(gatewayMetrics.has(metric), `${label}: the gateway exports no ${metric}`);
            assert.match(query, new RegExp(`namespace="${namespace}"`), `${label}: the query counts this namespace's gateways`);
          }
        }
        for (const autoscaler of autoscalers) {
          const label = `HorizontalPodAutoscaler ${autoscaler.metadata.name}`;
          assert.equal(autoscaler.spec?.scaleTargetRef.kind, 'Deployment', label);
          assert.equal(autoscaler.spec?.scaleTargetRef.name, gateway.metadata.name, `${label}: scaleTargetRef`);
          assert.ok((autoscaler.spec?.minReplicas ?? 1) >= 2, `${label}: minReplicas ≥ 2, so the disruption budget can let one go`);
          for (const metric of autoscaler.spec?.metrics ?? []) {
            const metricName = metric.pods?.metric.name ?? metric.object?.metric.name ?? metric.external?.metric.name;
            if (metricName) assert.ok(gatewayMetrics.has(metricName), `${label}: the gateway exports no ${metricName}`);
          }
        }
        const scaled = scaledObjects.length + autoscalers.length > 0;
        assert.ok(scaledObjects.length + autoscalers.length <= 1, 'KEDA and an HPA would fight over the replica count');
        assert.equal(
          gateway.spec?.replicas === undefined,
          scaled,
          scaled ? 'an autoscaler owns the replica count' : 'no autoscaler: the count is set',
        );
      });
    });
  }
});
