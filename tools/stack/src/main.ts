/**
 * `npm run stack -- --gateways N [--captures C] [--redis-cluster M]`: the distributed topology
 * from local processes, for machines without a Docker engine: redis-server (or a Redis Cluster
 * of M masters and M replicas), a fleet of C capture processes sharing the same CAMERAS (each
 * with its own health port), N gateways on their own ports and HAProxy (Debian's) rendered from
 * the same template as docker compose's. Ctrl-C stops every process it started; a failed start
 * stops the rest and says which part failed and why.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { certificateMade, ensureCertificate, tlsSettings } from '@camrelay/tls';
import { hideCredentials } from '@camrelay/config';
import { execFileSync } from 'node:child_process';
import {
  DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
  DEFAULT_MAX_VIEWERS,
  OPEN_FILES_PER_VIEWER,
  SPARE_CONNECTIONS,
  renderHaproxyConf,
} from './haproxy.js';
import type { PlainHttp } from './haproxy.js';
import { freePort, repoRoot, spawnCapture, spawnGateway, spawnProcess, spawnRedis } from './processes.js';
import { isInRotation, runtimeCommand, statRows } from './haproxy-runtime.js';
import { spawnRedisCluster } from './redis-cluster.js';
import type { Running } from './processes.js';

const USAGE = 'npm run stack -- --gateways N [--captures N] [--redis-cluster MASTERS]';

const plural = (count: number, what: string) => `${count} ${what}${count === 1 ? '' : 's'}`;

function fail(message: string): never {
  console.error(`stack: ${message}`);
  process.exit(2);
}

const { values } = (() => {
  try {
    return parseArgs({
      options: {
        gateways: { type: 'string', default: '3' },
        captures: { type: 'string', default: '1' },
        'redis-cluster': { type: 'string' },
        help: { type: 'boolean', default: false },
      },
    });
  } catch (error) {
    return fail(`${(error as Error).message}; usage: ${USAGE}`);
  }
})();
if (values.help) {
  console.log(
    `usage: ${USAGE}   (HTTPS_PORT: the load balancer's HTTPS port, default 8443; PORT: its plain HTTP port, default 8080, which redirects to HTTPS unless LB_PLAIN_HTTP=serve; TLS_CERTS_DIR: its certificates, default .camrelay/certs, where a self-signed one for TLS_NAMES is made if there is none; CAMERAS as for capture, shared by the captures; HEALTH_PORT: the first capture's health port, the next ones count up from it, default free ports)`,
  );
  process.exit(0);
}
const clusterMasters = values['redis-cluster'] === undefined ? undefined : Number(values['redis-cluster']);
if (clusterMasters !== undefined && (!Number.isInteger(clusterMasters) || clusterMasters < 3 || clusterMasters > 16))
  fail(
    `--redis-cluster must be a whole number of masters from 3 to 16 (Redis Cluster needs 3), got ${JSON.stringify(values['redis-cluster'])}`,
  );
const gatewayCount = Number(values.gateways);
if (!Number.isInteger(gatewayCount) || gatewayCount < 1 || gatewayCount > 64)
  fail(`--gateways must be a whole number from 1 to 64, got ${JSON.stringify(values.gateways)}`);
// A fleet: the captures share the cameras, each camera held by one of them at a time.
const captureCount = Number(values.captures);
if (!Number.isInteger(captureCount) || captureCount < 1 || captureCount > 16)
  fail(`--captures must be a whole number from 1 to 16, got ${JSON.stringify(values.captures)}`);
/** HEALTH_PORT, if set: the first capture's; the others count up from it. */
const firstHealthPort = process.env.HEALTH_PORT ? Number(process.env.HEALTH_PORT) : undefined;
if (
  firstHealthPort !== undefined &&
  (!Number.isInteger(firstHealthPort) || firstHealthPort < 1 || firstHealthPort + captureCount - 1 > 65535)
)
  fail(
    `HEALTH_PORT must be a whole number from 1 to ${65536 - captureCount} (${plural(captureCount, 'capture')} count up from it), got ${JSON.stringify(process.env.HEALTH_PORT)}`,
  );
const port = Number(process.env.PORT ?? 8080);
if (!Number.isInteger(port) || port < 1 || port > 65535)
  fail(`PORT must be a whole number from 1 to 65535, got ${JSON.stringify(process.env.PORT)}`);
const httpsPort = Number(process.env.HTTPS_PORT || 8443);
if (!Number.isInteger(httpsPort) || httpsPort < 1 || httpsPort > 65535 || httpsPort === port)
  fail(`HTTPS_PORT must be a whole number from 1 to 65535, not PORT's, got ${JSON.stringify(process.env.HTTPS_PORT)}`);
/** A whole-number variable of the load balancer's, or undefined when unset. */
function lbNumber(name: string, min: number, max: number): number | undefined {
  const text = process.env[name];
  if (!text) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max)
    fail(`${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(text)}`);
  return value;
}
const maxConnectionsPerAddress = lbNumber('LB_MAX_CONNECTIONS_PER_ADDRESS', 1, 1_000_000) ?? DEFAULT_MAX_CONNECTIONS_PER_ADDRESS;
const maxConnectionRatePerAddress = lbNumber('LB_MAX_CONNECTION_RATE_PER_ADDRESS', 1, 1_000_000);
const maxViewers = lbNumber('LB_MAXCONN', 1, DEFAULT_MAX_VIEWERS) ?? viewersTheFileLimitHolds();
const plainHttp = ((text): PlainHttp => {
  if (text === undefined || text === '' || text === 'redirect') return 'redirect';
  if (text === 'serve') return 'serve';
  return fail(`LB_PLAIN_HTTP must be redirect or serve, got ${JSON.stringify(text)}`);
})(process.env.LB_PLAIN_HTTP);
const hstsMaxAge = lbNumber('HSTS_MAX_AGE', 0, 100_000_000);
const tls = (() => {
  try {
    return tlsSettings(process.env, [hostname()]);
  } catch (error) {
    return fail((error as Error).message);
  }
})();
const certificatesDir = process.env.TLS_CERTS_DIR || join(repoRoot, '.camrelay', 'certs');
const acceptProxy = ((text) => {
  if (text === undefined || text === '' || text === 'false') return false;
  if (text === 'true') return true;
  return fail(`LB_ACCEPT_PROXY must be true or false, got ${JSON.stringify(text)}`);
})(process.env.LB_ACCEPT_PROXY);

// Gateways behind a load balancer require tokens: without API_TOKENS (and AUTH=off) the stack
// makes one for this run and prints it, so that one command still gives a working link.
const madeToken = process.env.AUTH !== 'off' && !process.env.API_TOKENS ? randomBytes(18).toString('base64url') : undefined;
// Behind HAProxy, which adds X-Forwarded-For; reachable from this machine only, so nobody can
// reach a gateway directly and choose their own X-Forwarded-For.
const gatewayEnv = { TRUST_PROXY: 'true', HOST: '127.0.0.1', ...(madeToken ? { API_TOKENS: madeToken } : {}) };

const dir = mkdtempSync(join(tmpdir(), 'camrelay-stack-'));
const logs = join(dir, 'logs');
mkdirSync(logs);
/** What was started, in order; processes of one `together` group are stopped at once. */
const started: Array<{ name: string; process: Running; together?: string }> = [];
/** What stopping the processes leaves behind: the cluster's node files. */
const afterStop: Array<() => Promise<void>> = [];
let stopping = false;
let ready = false;

/**
 * Stops every process, in reverse order (the load balancer first, Redis last), the captures
 * together: one by one, each would hand its cameras over to the next to stop (up to ~10 s
 * each). Keeps the logs after a failure.
 */
async function stopAll(keepLogs = false): Promise<void> {
  stopping = true;
  const order = [...started].reverse();
  for (let i = 0; i < order.length;) {
    const { together } = order[i]!;
    let end = i + 1;
    while (together !== undefined && order[end]?.together === together) end++;
    await Promise.all(order.slice(i, end).map((entry) => entry.process.stop()));
    i = end;
  }
  for (const cleanup of afterStop) await cleanup();
  if (keepLogs) console.error(`stack: logs kept in ${logs}`);
  else rmSync(dir, { recursive: true, force: true });
}

function track<T extends Running>(name: string, child: T, logName = name, together?: string): T {
  started.push({ name, process: child, together });
  void child.exited.then((code) => {
    if (ready && !stopping)
      console.error(
        `stack: ${name} (pid ${child.process.pid}) exited with ${code === null ? `signal ${child.process.signalCode}` : `code ${code}`}; its log: ${join(logs, `${logName}.log`)}`,
      );
  });
  return child;
}

async function step<T>(name: string, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (error) {
    console.error(`stack: ${name} did not start: ${(error as Error).message}`);
    await stopAll(true);
    process.exit(1);
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    console.log('\nstack: stopping');
    void stopAll().then(() => process.exit(0));
  });
}

const logOf = (name: string) => ({ logFile: join(logs, `${name}.log`), keepLines: 200 });

/**
 * Ports this stack hands out, and the load balancer's: a port found free is free only until
 * someone binds it, so one is never handed out twice, nor the one HAProxy is still to bind
 * (a capture's health server took the load balancer's `PORT` once).
 */
const handedOut = new Set<number>([port, httpsPort]);
async function unusedPort(): Promise<number> {
  for (;;) {
    const free = await freePort();
    if (handedOut.has(free)) continue;
    handedOut.add(free);
    return free;
  }
}

/** Where capture and the gateways find the bus, and what the summary says about it. */
const bus = await step('redis', async () => {
  if (clusterMasters === undefined) {
    const redis = track('redis', await spawnRedis({ ...logOf('redis'), port: await unusedPort() }));
    return { env: { REDIS_URL: redis.url }, lines: [`  redis      pid ${redis.process.pid}  ${redis.url}`] };
  }
  // Every node logs to one file: which node said what is in each line's pid.
  const cluster = await spawnRedisCluster({
    masters: clusterMasters,
    replicasPerMaster: 1,
    nodeTimeoutMs: 5000,
    ...logOf('redis-cluster'),
  });
  cluster.nodes.forEach((node, i) => track(`redis-node-${i + 1}`, node, 'redis-cluster'));
  afterStop.push(() => cluster.stop());
  return {
    env: { REDIS_CLUSTER_NODES: cluster.seeds },
    lines: [`  redis      Redis Cluster: ${clusterMasters} masters + ${clusterMasters} replicas  REDIS_CLUSTER_NODES=${cluster.seeds}`],
  };
});
// Same CAMERAS (from this environment), same bus: they form a fleet with no further setting.
const captures = await step('captures', () =>
  Promise.all(
    Array.from({ length: captureCount }, async (_, i) => {
      const name = `capture-${i + 1}`;
      const healthPort = firstHealthPort === undefined ? await unusedPort() : firstHealthPort + i;
      const capture = await spawnCapture({ ...bus.env, HEALTH_PORT: String(healthPort) }, [], logOf(name));
      track(name, capture, name, 'captures');
      return { name, capture, healthPort };
    }),
  ),
);
const gateways = await step('gateways', () =>
  Promise.all(
    Array.from({ length: gatewayCount }, async (_, i) => {
      const name = `gateway-${i + 1}`;
      const gateway = await spawnGateway({ ...bus.env, PORT: String(await unusedPort()), ...gatewayEnv }, logOf(name));
      track(name, gateway);
      return { name, gateway };
    }),
  ),
);
const certificate = await step('certificate', () => ensureCertificate(certificatesDir, tls.names));
const haproxyConf = join(dir, 'haproxy.cfg');
const runtimeSocket = join(dir, 'haproxy.sock');
const internalPort = await unusedPort();
const haproxy = await step('haproxy', async () => {
  const gatewayPorts = gateways.map((g) => g.gateway.port);
  writeFileSync(
    haproxyConf,
    renderHaproxyConf({
      kind: 'local',
      listen: port,
      tls: { listen: httpsPort, certificates: certificatesDir },
      plainHttp,
      hstsMaxAge,
      gatewayPorts,
      maxViewers,
      maxConnectionsPerAddress,
      maxConnectionRatePerAddress,
      acceptProxy,
      runtimeSocket,
      internalPort,
    }),
  );
  const child = track('haproxy', spawnProcess('haproxy', ['-db', '-f', haproxyConf], {}, logOf('haproxy')));
  await waitForRotation(runtimeSocket, gatewayPorts.length, child);
  return child;
});

ready = true;
console.log(
  `camrelay stack: https://localhost:${httpsPort}  (${plural(gatewayCount, 'gateway')} behind HAProxy, ${plural(captureCount, 'capture')})`,
);
console.log(`  plain HTTP http://localhost:${port}  (${plainHttp === 'redirect' ? 'redirects to HTTPS' : 'served: LB_PLAIN_HTTP=serve'})`);
console.log(
  `  TLS        ${certificate.made ? certificateMade(certificatesDir, tls.names, certificate.fingerprint!) : `${certificate.certificates.join(', ')} in ${certificatesDir}`}`,
);
for (const line of bus.lines) console.log(line);
for (const { name, capture, healthPort } of captures)
  console.log(`  ${name.padEnd(10)} pid ${capture.process.pid}  metrics http://127.0.0.1:${healthPort}/metrics`);
console.log(
  `             CAMERAS=${hideCredentials(process.env.CAMERAS ?? 'default=auto')}${captureCount > 1 ? `  (shared: each camera held by one capture at a time)` : ''}`,
);
for (const { name, gateway } of gateways) console.log(`  ${name.padEnd(10)} pid ${gateway.process.pid}  ${gateway.baseUrl}`);
console.log(`  haproxy    pid ${haproxy.process.pid}  ${haproxyConf}${acceptProxy ? '  (PROXY protocol required)' : ''}`);
console.log(`             runtime API ${runtimeSocket}  health http://127.0.0.1:${internalPort}/lbz`);
console.log(`  logs       ${logs}`);
if (madeToken) console.log(`  token      ${madeToken}  (made for this run; open https://localhost:${httpsPort}/#token=${madeToken})`);
console.log('Ctrl-C stops everything.');

/**
 * HAProxy prints nothing when it is ready: ask its runtime API until every gateway has passed a
 * health check (`show stat`: status UP, last check L7OK), or until it exits.
 */
async function waitForRotation(socket: string, gatewayCount: number, child: Running, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void child.exited.then(() => (exited = true));
  let seen = 'no answer';
  for (;;) {
    if (exited) throw new Error(`exited: ${[...new Set(child.output.slice(-5))].join(' | ') || 'no output'}`);
    const rows = statRows(await runtimeCommand(socket, 'show stat').catch(() => ''));
    if (rows.length > 0) {
      const servers = rows.filter((row) => row.pxname === 'gateways' && row.svname !== 'BACKEND');
      const ready = servers.filter(isInRotation).length;
      seen = `${ready} of ${gatewayCount} gateways in rotation`;
      if (ready === gatewayCount) return;
    }
    if (Date.now() > deadline) throw new Error(`${seen} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** HAProxy refuses to start with a maxconn its open-file limit (raised to the hard limit) cannot hold. */
function viewersTheFileLimitHolds(): number {
  const hard = Number(execFileSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim());
  return Number.isFinite(hard)
    ? Math.max(64, Math.min(DEFAULT_MAX_VIEWERS, Math.floor((hard - 200) / OPEN_FILES_PER_VIEWER) - SPARE_CONNECTIONS))
    : DEFAULT_MAX_VIEWERS;
}
