/**
 * The deployment files, without a Docker engine: the compose file parses with docker-compose
 * and refuses to start without API_TOKENS, every base image is a variable, the committed
 * HAProxy rendering matches its template, and Debian's HAProxy accepts both renderings. The
 * compose test (compose.test.ts) runs them for real.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { GATEWAY_NODE_FLAGS, REDIS_PUBSUB_BUFFER_LIMIT, dockerHaproxyConf, renderHaproxyConf, repoRoot } from '@camrelay/stack';

function composeConfig(env: NodeJS.ProcessEnv) {
  const run = spawnSync('docker-compose', ['-f', join(repoRoot, 'docker-compose.yml'), 'config'], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  assert.ifError(run.error); // docker-compose itself must have run: a missing binary is no refusal
  return run;
}

/** `haproxy -c` on a configuration: what HAProxy itself says of it. */
function haproxyCheck(conf: string) {
  const dir = mkdtempSync(join(tmpdir(), 'camrelay-haproxy-'));
  try {
    writeFileSync(join(dir, 'haproxy.cfg'), conf);
    return spawnSync('haproxy', ['-c', '-f', join(dir, 'haproxy.cfg')], { encoding: 'utf8' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('deployment files', () => {
  it('docker-compose.yml: redis, capture, 3 gateways without host ports, HAProxy on 8080', () => {
    const { stdout: config, status } = composeConfig({ PORT: '', API_TOKENS: 'a-token-for-the-test-only' });
    assert.equal(status, 0);
    for (const service of ['redis:', 'capture:', 'gateway:', 'lb:']) assert.match(config, new RegExp(`^  ${service}`, 'm'));
    const gateway = /^ {2}gateway:\n((?: {4}.*\n)+)/m.exec(config)?.[1] ?? '';
    assert.match(gateway, /replicas: 3/);
    assert.doesNotMatch(gateway, /ports:/, 'gateways publish no host port, so any number can run');
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
    });
    assert.equal(config.match(/NODE_IMAGE: mirror\.example\/node:24/g)?.length, 2, 'capture and gateway build on NODE_IMAGE');
    assert.match(config, /image: mirror\.example\/redis:7/);
    assert.match(config, /image: mirror\.example\/haproxy:2\.8/);
    assert.match(config, /127\.0\.0\.1:18080:8080/);
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
    assert.ok(scripts.gateway!.includes(`${node} services/gateway/dist/main.js`), scripts.gateway);
    assert.ok(scripts.start!.includes(`${node} services/all-in-one/dist/main.js`), scripts.start);
    const image = readFileSync(join(repoRoot, 'services/gateway/Dockerfile'), 'utf8');
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(image)?.[1] ?? 'null') as unknown;
    assert.deepEqual(cmd, ['node', ...GATEWAY_NODE_FLAGS, 'services/gateway/dist/main.js']);
  });

  it('docker-compose.yml will not start gateways without API_TOKENS, and says so', () => {
    const run = composeConfig({ API_TOKENS: '' });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /set API_TOKENS/);
  });

  it('deploy/haproxy/haproxy.docker.cfg is the template rendered for docker compose, and HAProxy accepts it', () => {
    const committed = readFileSync(join(repoRoot, 'deploy', 'haproxy', 'haproxy.docker.cfg'), 'utf8');
    assert.equal(
      committed,
      dockerHaproxyConf(),
      'regenerate it: node -e "import(\'@camrelay/stack\').then(m => process.stdout.write(m.dockerHaproxyConf()))" > deploy/haproxy/haproxy.docker.cfg',
    );
    assert.match(committed, /server-template gateway- \d+ gateway:8080 resolvers docker init-addr none/);
    assert.match(committed, /nameserver dns 127\.0\.0\.11:53/);
    const check = haproxyCheck(committed);
    assert.equal(check.status, 0, check.stderr);
  });

  it('the local rendering passes haproxy -c, with the settings streams need', () => {
    const conf = renderHaproxyConf({ kind: 'local', listen: 18080, gatewayPorts: [18081, 18082] });
    for (const setting of [
      'balance leastconn',
      'timeout server 1h',
      'timeout client 1h',
      'http-check send meth GET uri /readyz',
      'option forwardfor',
      'server gateway-2 127.0.0.1:18082',
    ]) {
      assert.ok(conf.includes(setting), setting);
    }
    assert.doesNotMatch(conf, /observe layer7|on-error/, 'a 503 for one request must never mark a gateway down');
    const check = haproxyCheck(conf);
    assert.equal(check.status, 0, check.stderr);
  });
});
