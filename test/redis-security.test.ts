/**
 * Redis with a password and TLS on real parts: a redis-server that serves TLS only and wants a
 * password, with a certificate from a throwaway CA that the services trust through Node's
 * NODE_EXTRA_CA_CERTS; capture publishes to it and a gateway streams from it (rediss://).
 * And the ways this goes wrong (wrong password, redis:// to the TLS port, a CA not trusted,
 * a malformed REDIS_URL) say so, keep /readyz at 503 and never show the password.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { OPEN_GATEWAY, StreamViewer, fetchMetrics, metricValue } from '@camrelay/clients';
import { freePort, isOk, spawnCapture, spawnGateway, spawnProcess, spawnRedis, untilAnswers } from '@camrelay/stack';
import type { Answer, CaptureService, RedisServer, Running, Service } from '@camrelay/stack';
import { eventually } from './harness/eventually.js';

const execFileAsync = promisify(execFile);

interface Certificates {
  /** The CA that signed the server's certificate. */
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
  /** A CA that signed nothing here: trusting it alone must not do. */
  readonly otherCa: string;
}

/** A CA, and a server certificate it signed for 127.0.0.1 and localhost. EC keys: milliseconds. */
async function makeCertificates(dir: string): Promise<Certificates> {
  const openssl = (...args: string[]) =>
    execFileAsync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      ...args,
    ]);
  const files = {
    ca: join(dir, 'ca.crt'),
    cert: join(dir, 'server.crt'),
    key: join(dir, 'server.key'),
    otherCa: join(dir, 'other-ca.crt'),
  };
  const caKey = join(dir, 'ca.key');
  await Promise.all([
    openssl('-subj', '/CN=camrelay test CA', '-keyout', caKey, '-out', files.ca),
    openssl('-subj', '/CN=some other CA', '-keyout', join(dir, 'other-ca.key'), '-out', files.otherCa),
  ]);
  await openssl(
    ...['-subj', '/CN=localhost', '-keyout', files.key, '-out', files.cert, '-CA', files.ca, '-CAkey', caKey],
    ...['-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-addext', 'basicConstraints=critical,CA:FALSE'],
  );
  return files;
}

/** A gateway's "redis connection problem" lines, parsed. */
function redisProblems(gateway: Running): Array<{ err: string }> {
  return gateway.output
    .filter((line) => line.includes('"msg":"redis connection problem"'))
    .map((line) => JSON.parse(line) as { err: string });
}

/** The gateway fails to connect again and again as it retries, says what is wrong each time, and is not ready. */
async function assertUnreadyWith(gateway: Service, error: RegExp): Promise<void> {
  // Two connections, reconnecting after 100, 200, 400 ms…: four errors means it retried and failed again.
  await eventually(async () => {
    const errors = metricValue(await fetchMetrics(gateway.baseUrl), 'camrelay_bus_connection_errors_total');
    assert.ok(errors >= 4, `camrelay_bus_connection_errors_total ${errors}`);
  }, 10_000);
  // What the log says: a line for each, naming the cause.
  await eventually(() => assert.ok(redisProblems(gateway).length >= 4, `${redisProblems(gateway).length} problems logged`));
  for (const problem of redisProblems(gateway)) assert.match(problem.err, error);
  const response = await fetch(`${gateway.baseUrl}/readyz`);
  assert.equal(response.status, 503);
  const body = (await response.json()) as { error: { code: string; message: string } };
  assert.equal(body.error.code, 'not_ready');
  assert.match(body.error.message, /frame bus not connected/);
}

describe('Redis with a password and TLS (rediss://)', () => {
  // The password has characters a URL must percent-encode; `secret` is its random part, and
  // what the logs are searched for (it reads the same raw or encoded).
  const secret = randomBytes(12).toString('hex');
  const password = `pw/@:%+${secret}`;
  const wrongSecret = randomBytes(12).toString('hex');
  let dir: string;
  let certs: Certificates;
  let redis: RedisServer;
  let capture: CaptureService;
  let gateway: Service;
  let captureHealth: string;
  /** Every process started here: all their output is searched for the passwords at the end. */
  const processes: Running[] = [];
  const gatewayWith = async (env: NodeJS.ProcessEnv) => {
    // SHUTDOWN_DELAY=0: graceful shutdown is not what this file is about; stopping takes no 2 s.
    const started = await spawnGateway({ ...OPEN_GATEWAY, SHUTDOWN_DELAY: '0', NODE_EXTRA_CA_CERTS: certs.ca, ...env });
    processes.push(started);
    return started;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'camrelay-redis-tls-'));
    certs = await makeCertificates(dir);
    redis = await spawnRedis({ password, tls: { cert: certs.cert, key: certs.key, ca: certs.ca } });
    processes.push(redis);
    assert.match(redis.url, /^rediss:\/\/:pw%2F%40%3A%25%2B[0-9a-f]+@127\.0\.0\.1:\d+$/);
    const healthPort = await freePort();
    captureHealth = `http://127.0.0.1:${healthPort}`;
    const env = { REDIS_URL: redis.url, NODE_EXTRA_CA_CERTS: certs.ca };
    [capture, gateway] = await Promise.all([
      spawnCapture({ ...env, HEALTH_PORT: String(healthPort), CAMERAS: 'lab=pattern:160x120@10' }, ['lab']),
      gatewayWith(env),
    ]);
    processes.push(capture);
  });

  after(async () => {
    await Promise.all(processes.map((child) => child.stop()));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('streams frames from capture to a viewer through it, and both services report it up', async () => {
    // On failure, the output in the message shows each service's redis connection problem.
    const busUp = (answer: Answer) => isOk(answer) && (JSON.parse(answer.body) as { bus: string }).bus === 'up';
    await Promise.all([gateway.ready(5000), untilAnswers(capture, `${capture.healthUrl}/healthz`, busUp, 5000)]);
    const viewer = new StreamViewer(`${gateway.baseUrl}/cameras/lab/stream.mjpg`);
    try {
      const frames = await viewer.waitForFrames(5);
      for (let i = 1; i < frames.length; i++) assert.ok(frames[i]!.sequence > frames[i - 1]!.sequence, 'X-Sequence rises');
    } finally {
      viewer.close();
    }
    assert.equal((await fetch(`${gateway.baseUrl}/readyz`)).status, 200);
    const cameras = (await (await fetch(`${gateway.baseUrl}/api/cameras`)).json()) as Array<{ id: string }>;
    assert.deepEqual(
      cameras.map((camera) => camera.id),
      ['lab'],
      'the camera directory came through Redis too',
    );
    const health = (await (await fetch(`${captureHealth}/healthz`)).json()) as { bus: string };
    assert.equal(health.bus, 'up');
  });

  it('with a wrong password: /readyz stays 503 and the log says WRONGPASS, not the password', async () => {
    const wrong = await gatewayWith({ REDIS_URL: `rediss://:${wrongSecret}@127.0.0.1:${redis.port}` });
    await assertUnreadyWith(wrong, /^WRONGPASS/);
  });

  it('with redis:// to the TLS port: /readyz stays 503 and the connection error is logged', async () => {
    const plain = await gatewayWith({ REDIS_URL: redis.url.replace(/^rediss:/, 'redis:') });
    // The server drops a client that does not speak TLS: all the client sees is a reset.
    await assertUnreadyWith(plain, /ECONNRESET|EPIPE|Connection is closed/);
  });

  it('with the server certificate from a CA not trusted: /readyz stays 503 and the log says why', async () => {
    const untrusted = await gatewayWith({ REDIS_URL: redis.url, NODE_EXTRA_CA_CERTS: certs.otherCa });
    await assertUnreadyWith(untrusted, /certificate/);
  });

  it('refuses a malformed REDIS_URL without repeating its password', async () => {
    const malformed = [
      `rediss://:${secret} x@127.0.0.1:${redis.port}`, // a space: not a URL
      `rediss://:${secret}@${'a'.repeat(120)}.example:99999`, // longer than the 120 characters shown
    ];
    const runs = malformed.flatMap((url) =>
      ['services/gateway/dist/main.js', 'services/capture/dist/main.js'].map((script) => {
        const child = spawnProcess(process.execPath, [script], { ...OPEN_GATEWAY, REDIS_URL: url, LOG_LEVEL: 'info' });
        processes.push(child);
        return child;
      }),
    );
    for (const child of runs) {
      assert.equal(await child.exited, 2);
      const output = child.output.join('\n');
      assert.ok(!output.includes(secret), `the password is in: ${output.replaceAll(secret, '<PASSWORD>')}`);
      assert.match(output, /REDIS_URL="rediss:\/\/\*\*\*@/);
    }
  });

  it('never shows a password: no output line of any process holds one', async () => {
    // Stopped first, so what they print on the way out is searched too; Redis last.
    await Promise.all(processes.filter((child) => child !== redis).map((child) => child.stop()));
    await redis.stop();
    const lines = processes.flatMap((child) => child.output);
    assert.ok(lines.length > 20, `${lines.length} lines searched`);
    for (const line of lines) {
      assert.ok(!line.includes(secret), `the password is in: ${line.replaceAll(secret, '<PASSWORD>')}`);
      assert.ok(!line.includes(wrongSecret), `the wrong password is in: ${line.replaceAll(wrongSecret, '<WRONG PASSWORD>')}`);
    }
  });
});
