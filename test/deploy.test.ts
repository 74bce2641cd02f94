/**
 * The deployment files, without a Docker engine: the compose file parses with docker-compose
 * and refuses to start without API_TOKENS and the Redis passwords, gives Redis the users of
 * deploy/redis and each service its own, runs redis, capture and the gateways read-only without
 * capabilities, runs capture as a fleet that any --scale fits and that has time to hand its
 * cameras over when stopped, every base image is a variable, the committed
 * HAProxy rendering matches its template, and Debian's HAProxy accepts both renderings. The
 * compose test (compose.test.ts) runs them for real.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { ensureCertificate } from '@camrelay/tls';
import { GATEWAY_NODE_FLAGS, REDIS_PUBSUB_BUFFER_LIMIT, dockerHaproxyConf, renderHaproxyConf, repoRoot } from '@camrelay/stack';
import { REDIS_USERS_ACL, passwordVariable } from './harness/acl-redis.js';
import { CAPTURE_STOP_GRACE_SECONDS } from './harness/capture-fleet.js';

/** The Redis passwords compose requires (README, Security); a test that is about them overrides them. */
const REDIS_PASSWORDS = {
  REDIS_CAPTURE_PASSWORD: 'capture-password-for-the-test',
  REDIS_GATEWAY_PASSWORD: 'gateway-password-for-the-test',
};

function composeConfig(env: NodeJS.ProcessEnv) {
  const run = spawnSync('docker-compose', ['-f', join(repoRoot, 'docker-compose.yml'), 'config'], {
    encoding: 'utf8',
    env: { ...process.env, ...REDIS_PASSWORDS, ...env },
  });
  assert.ifError(run.error); // docker-compose itself must have run: a missing binary is no refusal
  return run;
}

interface ComposeService {
  user?: string;
  entrypoint?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  read_only?: boolean;
  tmpfs?: string[];
  cap_drop?: string[];
  cap_add?: string[];
  security_opt?: string[];
  privileged?: boolean;
  healthcheck?: { test: string[] };
  container_name?: string;
  ports?: unknown[];
  command?: unknown;
  deploy?: { replicas?: number };
  stop_grace_period?: string;
}

/** A compose duration (`15s`, `1m30s`, `1500ms`) in seconds. */
function durationSeconds(text: string): number {
  const units: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001, us: 0.000001 };
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(h|ms|us|m|s)/g)];
  assert.equal(parts.map((part) => part[0]).join(''), text, `${text}: a duration of h, m, s, ms or us`);
  return parts.reduce((sum, [, value, unit]) => sum + Number(value) * units[unit!]!, 0);
}

/** The services as docker-compose renders them, with the variables compose requires. */
function composeServices(): Record<string, ComposeService> {
  const run = composeConfig({ API_TOKENS: 'a-token-for-the-test-only' });
  assert.equal(run.status, 0, run.stderr);
  return (parse(run.stdout) as { services: Record<string, ComposeService> }).services;
}

/** `haproxy -c` on a configuration: what HAProxy itself says of it. */
/**
 * `haproxy -c` on a rendering, with a certificate made for it in the directory the rendering
 * names (the docker rendering's /certs/ becomes a temporary one): HAProxy loads it to check.
 */
async function haproxyCheck(conf: string, certificates = '/certs/') {
  const dir = mkdtempSync(join(tmpdir(), 'camrelay-haproxy-'));
  try {
    const made = certificates === '/certs/' ? join(dir, 'certs') : certificates;
    await ensureCertificate(made, ['localhost']);
    writeFileSync(join(dir, 'haproxy.cfg'), conf.replaceAll(' crt /certs/ ', ` crt ${made}/ `));
    return spawnSync('haproxy', ['-c', '-f', join(dir, 'haproxy.cfg')], { encoding: 'utf8' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('deployment files', () => {
  it('docker-compose.yml: redis, 2 captures and 3 gateways without host ports, HAProxy on 8080', () => {
    const { stdout: config, status } = composeConfig({ PORT: '', API_TOKENS: 'a-token-for-the-test-only' });
    assert.equal(status, 0);
    for (const service of ['redis:', 'capture:', 'gateway:', 'lb:']) assert.match(config, new RegExp(`^  ${service}`, 'm'));
    const gateway = /^ {2}gateway:\n((?: {4}.*\n)+)/m.exec(config)?.[1] ?? '';
    assert.match(gateway, /replicas: 3/);
    assert.doesNotMatch(gateway, /ports:/, 'gateways publish no host port, so any number can run');
    const capture = /^ {2}capture:\n((?: {4}.*\n)+)/m.exec(config)?.[1] ?? '';
    assert.match(capture, /replicas: 2/, 'a fleet of two captures by default, as `--scale capture=2` in the README');
    const lb = /^ {2}lb:\n((?: {4}.*\n)+)/m.exec(config)?.[1] ?? '';
    assert.match(lb, /0\.0\.0\.0:8080:8080/);
    assert.match(lb, /image: haproxy:/);
    assert.match(gateway, /API_TOKENS: a-token-for-the-test-only/);
    assert.match(gateway, /TRUST_PROXY: 'true'|TRUST_PROXY: "true"|TRUST_PROXY: true/);
    // The same pub/sub output-buffer limit as the local stack's Redis.
    const redis = /^ {2}redis:\n((?: {4}.*\n)+)/m.exec(config)?.[1] ?? '';
    assert.ok(
      redis.includes(REDIS_PUBSUB_BUFFER_LIMIT),
      `redis is started with --client-output-buffer-limit '${REDIS_PUBSUB_BUFFER_LIMIT}'`,
    );
  });

  it('docker-compose.yml takes every base image, the address and the file limit from variables', () => {
    const { stdout: config } = composeConfig({
      API_TOKENS: 'a-token-for-the-test-only',
      NODE_IMAGE: 'mirror.example/node:24',
      REDIS_IMAGE: 'mirror.example/redis:7',
      LB_IMAGE: 'mirror.example/haproxy:2.8',
      LB_ADDRESS: '127.0.0.1',
      LB_NOFILE: '20000',
      PORT: '18080',
      HTTPS_PORT: '18443',
    });
    assert.equal(config.match(/NODE_IMAGE: mirror\.example\/node:24/g)?.length, 3, 'capture, gateway and tls build on NODE_IMAGE');
    assert.match(config, /image: mirror\.example\/redis:7/);
    assert.match(config, /image: mirror\.example\/haproxy:2\.8/);
    assert.match(config, /127\.0\.0\.1:18080:8080/);
    assert.match(config, /127\.0\.0\.1:18443:8443/);
    assert.match(config, /nofile: 20000/);
    // Pinned, and to the Node 24 the hand-over tests run on (test/node-versions.test.ts): the
    // gateway takes streams from Node's HTTP server with its internals.
    const tested = JSON.parse(readFileSync(join(repoRoot, 'tools', 'node-versions', 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    const node24 = /@(24\.\d+\.\d+)$/.exec(tested.devDependencies.node24 ?? '')?.[1];
    assert.ok(node24, 'tools/node-versions pins a Node 24 release');
    for (const dockerfile of ['services/capture/Dockerfile', 'services/gateway/Dockerfile']) {
      const text = readFileSync(join(repoRoot, dockerfile), 'utf8');
      assert.match(text, new RegExp(`^ARG NODE_IMAGE=node:${node24.replaceAll('.', '\\.')}-bookworm-slim$`, 'm'), dockerfile);
      assert.deepEqual(
        text.match(/^FROM .*/gm)?.map((line) => line.split(' ')[1]),
        ['${NODE_IMAGE}', '${NODE_IMAGE}'],
        `${dockerfile}: every stage on NODE_IMAGE`,
      );
    }
  });

  it('every way of starting a gateway gives Node the same flags: npm run gateway, npm start, the image, the stack', () => {
    const { scripts } = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    const node = ['node', ...GATEWAY_NODE_FLAGS].join(' ');
    assert.ok(scripts.gateway!.includes(`${node} services/all-in-one/dist/gateway.js`), scripts.gateway);
    assert.ok(scripts.start!.includes(`${node} services/all-in-one/dist/main.js`), scripts.start);
    const image = readFileSync(join(repoRoot, 'services/gateway/Dockerfile'), 'utf8');
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(image)?.[1] ?? 'null') as unknown;
    assert.deepEqual(cmd, ['node', ...GATEWAY_NODE_FLAGS, 'services/gateway/dist/main.js']);
  });

  it('docker-compose.yml runs capture as a fleet: any --scale fits, and a stopping instance has time to hand its cameras over', () => {
    const capture = composeServices().capture!;
    // Each replica gets a name and a port of its own only if compose chooses them.
    assert.equal(capture.container_name, undefined, 'no container_name: two replicas cannot share one');
    assert.equal(capture.ports, undefined, 'no published port: two replicas cannot share a host port');
    assert.ok((capture.deploy?.replicas ?? 1) >= 2, `replicas ${capture.deploy?.replicas}: one may stop without its cameras going dark`);
    const grace = durationSeconds(capture.stop_grace_period ?? '10s');
    assert.ok(
      grace >= CAPTURE_STOP_GRACE_SECONDS,
      `stop_grace_period ${capture.stop_grace_period ?? '(default 10s)'}: SIGKILL would cut the hand-over short (≥ ${CAPTURE_STOP_GRACE_SECONDS}s)`,
    );
    // docker stop's SIGTERM goes to the container's first process: it must be node itself (the
    // official image's entrypoint execs its command), not a shell that would not pass it on.
    assert.equal(capture.entrypoint, undefined, 'compose keeps the image entrypoint');
    assert.equal(capture.command, undefined, "compose keeps the image's CMD");
    const dockerfile = readFileSync(join(repoRoot, 'services/capture/Dockerfile'), 'utf8');
    assert.doesNotMatch(dockerfile, /^ENTRYPOINT /m, 'the image sets no entrypoint of its own');
    const cmd = [...dockerfile.matchAll(/^CMD (.*)$/gm)].at(-1)?.[1] ?? '';
    assert.match(cmd, /^\[/, `CMD ${cmd}: exec form (a JSON array), so that no shell stands between docker and node`);
    assert.deepEqual(JSON.parse(cmd), ['node', 'services/capture/dist/main.js']);
    assert.doesNotMatch(dockerfile, /^STOPSIGNAL (?!SIGTERM)/m, 'stopped with SIGTERM, which capture answers with the hand-over');
  });

  it('docker-compose.yml will not start gateways without API_TOKENS, and says so', () => {
    const run = composeConfig({ API_TOKENS: '' });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /set API_TOKENS/);
  });

  it('docker-compose.yml will not start without the Redis passwords, and says which to set', () => {
    for (const variable of Object.keys(REDIS_PASSWORDS)) {
      const run = composeConfig({ API_TOKENS: 'a-token-for-the-test-only', [variable]: '' });
      assert.equal(run.status, 1, variable);
      assert.match(run.stderr, /set REDIS_CAPTURE_PASSWORD and REDIS_GATEWAY_PASSWORD/, variable);
    }
  });

  it("docker-compose.yml starts Redis with deploy/redis's users, and capture and the gateways log in as theirs", () => {
    const services = composeServices();
    const redis = services.redis!;
    // The same start script and users test/redis-acl.test.ts runs.
    assert.deepEqual(redis.entrypoint, ['sh', '/etc/camrelay/redis/start.sh']);
    assert.ok(redis.volumes?.includes(`${join(repoRoot, 'deploy', 'redis')}:/etc/camrelay/redis:ro`), JSON.stringify(redis.volumes));
    const users = [...readFileSync(REDIS_USERS_ACL, 'utf8').matchAll(/^user (\w+) on /gm)].map((match) => match[1]!);
    assert.deepEqual(users.sort(), ['capture', 'exporter', 'gateway']);
    for (const user of users)
      assert.ok(redis.environment && passwordVariable(user) in redis.environment, `redis gets ${passwordVariable(user)}`);
    assert.equal(redis.environment?.REDIS_EXPORTER_PASSWORD, '', "unset: start.sh turns the exporter's user off");
    const { REDIS_CAPTURE_PASSWORD: capture, REDIS_GATEWAY_PASSWORD: gateway } = REDIS_PASSWORDS;
    assert.equal(services.capture!.environment?.REDIS_URL, `redis://capture:${capture}@redis:6379`);
    assert.equal(services.gateway!.environment?.REDIS_URL, `redis://gateway:${gateway}@redis:6379`);
    assert.equal(redis.environment?.REDIS_CAPTURE_PASSWORD, capture);
    assert.equal(redis.environment?.REDIS_GATEWAY_PASSWORD, gateway);
    // The health check logs in (the default user can do nothing) as a user the file has.
    const check = redis.healthcheck?.test.join(' ') ?? '';
    assert.match(check, /REDISCLI_AUTH="\$\$REDIS_CAPTURE_PASSWORD" redis-cli --user capture ping \| grep -q PONG/);
  });

  it('runs redis, capture, the gateways and the load balancer read-only, without capabilities or privilege escalation, and not as root', () => {
    const services = composeServices();
    for (const name of ['redis', 'capture', 'gateway', 'lb']) {
      const service = services[name]!;
      assert.equal(service.read_only, true, `${name}: read_only`);
      assert.deepEqual(service.cap_drop, ['ALL'], `${name}: cap_drop`);
      assert.equal(service.cap_add, undefined, `${name}: cap_add`);
      assert.ok(service.security_opt?.includes('no-new-privileges:true'), `${name}: security_opt no-new-privileges`);
      assert.ok(!service.privileged, `${name}: privileged`);
    }
    // Redis from the start, so that the official image's entrypoint has no root steps to take.
    assert.equal(services.redis!.user, 'redis');
    for (const [name, dockerfile] of [
      ['capture', 'services/capture/Dockerfile'],
      ['gateway', 'services/gateway/Dockerfile'],
    ] as const) {
      assert.equal(services[name]!.user, undefined, `${name}: runs as its image's USER`);
      assert.equal([...readFileSync(join(repoRoot, dockerfile), 'utf8').matchAll(/^USER (\S+)$/gm)].at(-1)?.[1], 'node', dockerfile);
    }
    // Where something is written: start.sh's file of users, OpenCV's media back ends.
    for (const name of ['redis', 'capture']) assert.ok(services[name]!.tmpfs?.includes('/tmp'), `${name}: a tmpfs at /tmp`);
  });

  it('deploy/haproxy/haproxy.docker.cfg is the template rendered for docker compose, and HAProxy accepts it', async () => {
    const committed = readFileSync(join(repoRoot, 'deploy', 'haproxy', 'haproxy.docker.cfg'), 'utf8');
    assert.equal(
      committed,
      dockerHaproxyConf(),
      'regenerate it: node -e "import(\'@camrelay/stack\').then(m => process.stdout.write(m.dockerHaproxyConf()))" > deploy/haproxy/haproxy.docker.cfg',
    );
    assert.match(committed, /server-template gateway- \d+ gateway:8080 resolvers docker init-addr none/);
    assert.match(committed, /nameserver dns 127\.0\.0\.11:53/);
    const check = await haproxyCheck(committed);
    assert.equal(check.status, 0, check.stderr);
  });

  it('the local rendering passes haproxy -c, with the settings streams and TLS need', async () => {
    const certificates = mkdtempSync(join(tmpdir(), 'camrelay-certs-'));
    try {
      const conf = renderHaproxyConf({
        kind: 'local',
        listen: 18080,
        tls: { listen: 18443, certificates },
        hstsMaxAge: 600,
        gatewayPorts: [18081, 18082],
      });
      for (const setting of [
        'balance leastconn',
        'timeout server 1h',
        'timeout client 1h',
        'http-check send meth GET uri /readyz',
        'option forwardfor',
        'server gateway-2 127.0.0.1:18082',
        `bind :18443 ssl crt ${certificates}/ alpn h2,http/1.1`,
        'ssl-default-bind-options ssl-min-ver TLSv1.2',
        "http-request redirect location 'https://%[req.hdr(host),regsub(:[0-9]+$,)]:'18443'%[capture.req.uri]' code 301 if !{ ssl_fc }",
        'set-header Strict-Transport-Security max-age=600 if { ssl_fc }',
      ]) {
        assert.ok(conf.includes(setting), setting);
      }
      // A gateway's answer never marks it down (a 503 for one request, a camera with no frame yet);
      // a connection it refuses does: a gateway scaled up is UP before it listens.
      assert.doesNotMatch(conf, /observe layer7/, 'a 503 for one request must never mark a gateway down');
      assert.match(conf, /observe layer4 error-limit 1 on-error mark-down/, 'a refused connection marks a gateway down');
      const check = await haproxyCheck(conf, certificates);
      assert.equal(check.status, 0, check.stderr);
    } finally {
      rmSync(certificates, { recursive: true, force: true });
    }
  });
});
