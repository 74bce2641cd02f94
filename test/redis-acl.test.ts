/**
 * Redis with the users compose and Kubernetes ship (deploy/redis/users.acl, started through
 * deploy/redis/start.sh as they start it): capture, a gateway and Debian's redis exporter each
 * log in as their own user. Capture and the gateway do everything they do (frames, the camera
 * directory, claims that open a sleeping camera, the shared URL signing key and its rotation)
 * without one refusal in ACL LOG. Each user is refused what belongs to the others, and the
 * exporter every key: a scrape that asks its /scrape for the signing key (`check-single-keys`,
 * `check-keys`, `count-keys`: any client of the exporter's port may ask) returns the server's
 * figures and nothing of any key. Anonymous clients can do nothing.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { Mp4Viewer, StreamViewer, fetchMetrics, metricValue } from '@camrelay/clients';
import { freePort, spawnCapture, spawnGateway, spawnProcess } from '@camrelay/stack';
import type { Running, Service } from '@camrelay/stack';
import { latestFrameKey } from '@camrelay/bus';
import { REDIS_START, passwordVariable, spawnAclRedis, spawnRedisExporter } from './harness/acl-redis.js';
import type { AclRedis, RedisExporter, RedisUser } from './harness/acl-redis.js';
import { eventually } from './harness/eventually.js';

const TOKEN = 'redis-acl-test-token-0123456789';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const CAMERA = 'lab';
const SIGNING_KEY = 'camrelay:secret:url-signing-key';

/** What Redis answers a command that its ACL refuses; anything else (a reply, another error) is a failure. */
async function refused(connection: Redis, command: string, ...args: Array<string | number>): Promise<string> {
  try {
    const reply: unknown = await connection.call(command, ...args);
    return `allowed: ${JSON.stringify(reply)?.slice(0, 120)}`;
  } catch (error) {
    // A command refused inside a script fails the script with Redis's own wording.
    const refusal = /^NOPERM |^ERR The user executing the script can't /;
    return refusal.test((error as Error).message) ? 'refused' : `failed otherwise: ${(error as Error).message}`;
  }
}

/** The first reply line to inline commands sent on a connection that never authenticates. */
async function anonymously(port: number, ...commands: string[]): Promise<string[]> {
  const socket = connect(port, '127.0.0.1');
  socket.setEncoding('utf8');
  let received = '';
  socket.on('data', (chunk: string) => (received += chunk));
  socket.write(commands.map((command) => `${command}\r\n`).join(''));
  const replies = async () => {
    for (;;) {
      const lines = received.split('\r\n').filter(Boolean);
      if (lines.length >= commands.length) return lines.slice(0, commands.length);
      await once(socket, 'data');
    }
  };
  try {
    return await replies();
  } finally {
    socket.destroy();
  }
}

describe('Redis users: capture, gateways and the exporter each allowed only what they use', () => {
  let redis: AclRedis;
  let observer: Redis;
  let capture: Running;
  let captureHealth = '';
  let gateway: Service;
  let exporter: RedisExporter;
  let exporterUrl = '';
  const viewers: StreamViewer[] = [];

  /** ACL LOG's refusals of `user`, as `reason object` lines. */
  const refusals = async (user: string) => {
    const entries = (await observer.call('ACL', 'LOG')) as Array<Array<string | number>>;
    return entries
      .map((entry) => {
        const fields = new Map<string, unknown>();
        for (let i = 0; i < entry.length; i += 2) fields.set(String(entry[i]), entry[i + 1]);
        return fields;
      })
      .filter((fields) => fields.get('username') === user)
      .map((fields) => `${String(fields.get('reason'))} ${String(fields.get('object'))} (×${String(fields.get('count'))})`);
  };
  const cameraOpen = async () => metricValue(await fetchMetrics(captureHealth), 'camrelay_capture_camera_open', `camera="${CAMERA}"`);

  before(async () => {
    redis = await spawnAclRedis();
    observer = redis.connect('observer');
    const healthPort = await freePort();
    captureHealth = `http://127.0.0.1:${healthPort}`;
    capture = await spawnCapture(
      {
        REDIS_URL: redis.url('capture'),
        CAMERAS: `${CAMERA}=pattern:160x120@10`,
        HEALTH_PORT: String(healthPort),
        CAPTURE_IDLE_AFTER: '1',
      },
      [CAMERA],
    );
    gateway = await spawnGateway({ REDIS_URL: redis.url('gateway'), API_TOKENS: TOKEN });
    // As the monitoring override and the Kubernetes sidecar run it (see spawnRedisExporter).
    exporter = await spawnRedisExporter(redis);
    exporterUrl = exporter.url;
  });

  after(async () => {
    for (const viewer of viewers) viewer.close();
    for (const child of [exporter, gateway, capture, redis]) await child?.stop();
  });

  it('lets no anonymous client do anything: the default user is off', async () => {
    const replies = await anonymously(redis.port, 'PING', `GET ${SIGNING_KEY}`, 'AUTH default ""', 'HELLO 3');
    assert.match(replies[0]!, /^-NOAUTH/, 'PING');
    assert.match(replies[1]!, /^-NOAUTH/, 'GET');
    assert.match(replies[2]!, /^-WRONGPASS/, 'AUTH as the default user');
    assert.match(replies[3]!, /^-NOAUTH/, 'HELLO without credentials');
  });

  it('runs capture and a gateway on their users: frames, directory, claims that wake a camera, signed URLs, key rotation; nothing refused', async () => {
    // Unwatched, the camera closes: capture reads the (empty) claims.
    await eventually(async () => assert.equal(await cameraOpen(), 0, 'the camera closes unwatched'), 15_000, 100);
    const response = await fetch(`${gateway.baseUrl}/api/cameras`, { headers: AUTH });
    assert.equal(response.status, 200);
    const [listed] = (await response.json()) as Array<{ id: string; sleeping: boolean; snapshotUrl: string }>;
    assert.equal(listed?.id, CAMERA, 'the directory capture wrote, listed by the gateway');
    // A viewer: the gateway claims the camera, capture reads the claim and opens it, frames flow.
    const viewer = new StreamViewer(`${gateway.baseUrl}/cameras/${CAMERA}/stream.mjpg`, { keepJpegs: false, headers: AUTH });
    viewers.push(viewer);
    await viewer.waitForFrames(5, 20_000);
    assert.equal(await cameraOpen(), 1);
    // A signed URL, signed with the key the gateway stored in Redis, opens the snapshot.
    const snapshot = await fetch(new URL(listed.snapshotUrl, gateway.baseUrl));
    assert.equal(snapshot.status, 200);
    assert.equal(snapshot.headers.get('content-type'), 'image/jpeg');
    // `npm run rotate-signing-key` with the gateways' URL replaces the key.
    const before = await observer.get(SIGNING_KEY);
    assert.ok(before, 'the gateway stored the shared signing key');
    const rotation = spawnProcess(process.execPath, ['services/gateway/dist/rotate-signing-key.js'], { REDIS_URL: redis.url('gateway') });
    assert.equal(await rotation.exited, 0, rotation.output.join('\n'));
    assert.notEqual(await observer.get(SIGNING_KEY), before, 'the key was replaced');

    // The H.264 tier: capture keeps a feed's group of pictures in a list, the gateway reads it for its first viewer.
    const video = new Mp4Viewer(`${gateway.baseUrl}/cameras/${CAMERA}/stream.mp4`, { keepBytes: false, headers: AUTH });
    try {
      await video.waitForKeyframe(1, 20_000);
    } finally {
      video.close();
    }
    assert.equal(await observer.type(latestFrameKey(`${CAMERA}+h264`)), 'list');

    // Who is connected, by the server's account: every connection logged in as its own user.
    const clients = String(await observer.call('CLIENT', 'LIST'))
      .trim()
      .split('\n')
      .map((line) => /\buser=(\S+)/.exec(line)?.[1]);
    for (const user of ['capture', 'gateway']) assert.ok(clients.includes(user), `a connection as ${user}: ${clients.join(', ')}`);
    assert.ok(!clients.includes('default'), 'no connection as the default user');
    for (const user of ['capture', 'gateway']) assert.deepEqual(await refusals(user), [], `ACL LOG: what ${user} was refused`);
  });

  it('refuses each user what belongs to the others: keys, channels, commands', async () => {
    const latest = `camrelay:{${CAMERA}}:latest`;
    const frames = `camrelay:{${CAMERA}}:frames`;
    const checks: Record<Exclude<RedisUser, 'observer'>, Array<[string, ...Array<string | number>]>> = {
      capture: [
        ['GET', SIGNING_KEY],
        ['SET', SIGNING_KEY, 'forged'],
        ['GET', latest],
        ['SUBSCRIBE', frames],
        ['EVAL', `return redis.call('GET', '${SIGNING_KEY}')`, 1, `camrelay:{${CAMERA}}:watched`],
        ['EVAL', `return redis.call('ZADD', KEYS[1], 9e15, 'forged')`, 1, `camrelay:{${CAMERA}}:watched`],
        ['KEYS', '*'],
        ['FLUSHALL'],
        ['CONFIG', 'GET', '*'],
      ],
      gateway: [
        ['SET', latest, 'forged'],
        ['PUBLISH', frames, 'forged'],
        ['DEL', SIGNING_KEY],
        ['EVAL', `return redis.call('ZADD', KEYS[1], 9e15, 'forged')`, 1, 'camrelay:cameras'],
        ['SCAN', 0],
        ['FLUSHALL'],
        ['CONFIG', 'GET', '*'],
      ],
      // What redis_exporter would run for check-keys and friends, and what else reads values.
      exporter: [
        ['GET', SIGNING_KEY],
        ['STRLEN', SIGNING_KEY],
        ['TYPE', SIGNING_KEY],
        ['DUMP', SIGNING_KEY],
        ['GETRANGE', SIGNING_KEY, 0, -1],
        ['OBJECT', 'ENCODING', SIGNING_KEY],
        ['MEMORY', 'USAGE', SIGNING_KEY],
        ['GET', `camrelay:{${CAMERA}}:info`],
        ['GET', latest],
        ['HGETALL', SIGNING_KEY],
        ['ZRANGE', 'camrelay:cameras', 0, -1],
        ['SCAN', 0],
        ['KEYS', '*'],
        ['SELECT', 0],
        ['EVAL', `return redis.call('GET', '${SIGNING_KEY}')`, 0],
        ['SLOWLOG', 'GET', 1],
        ['CONFIG', 'GET', '*'],
        ['CLIENT', 'LIST'],
        ['SUBSCRIBE', frames],
      ],
    };
    const allowed: string[] = [];
    for (const [user, commands] of Object.entries(checks)) {
      const connection = redis.connect(user as RedisUser);
      for (const [command, ...args] of commands) {
        const outcome = await refused(connection, command, ...args);
        if (outcome !== 'refused') allowed.push(`${user}: ${command} ${args.join(' ')}: ${outcome}`);
      }
    }
    assert.deepEqual(allowed, [], 'commands that must be refused');
  });

  it("serves the exporter's figures without any key's value, whatever its scrape asks for", async () => {
    const secret = await observer.get(SIGNING_KEY);
    assert.ok(secret && secret.length >= 32, 'the signing key is in Redis');
    const target = `redis://127.0.0.1:${redis.port}`;
    const query = new URLSearchParams({
      target,
      'check-single-keys': SIGNING_KEY,
      'check-keys': 'camrelay:*',
      'count-keys': 'camrelay:*',
    });
    const response = await fetch(`${exporterUrl}/scrape?${query.toString()}`);
    assert.equal(response.status, 200);
    const body = await response.text();
    // The figures the dashboard and the alerts read.
    assert.equal(metricValue(body, 'redis_up'), 1, 'redis_up');
    assert.ok(metricValue(body, 'redis_connected_clients') >= 3, 'capture, the gateway and the exporter connected');
    for (const name of ['redis_net_output_bytes_total', 'redis_net_input_bytes_total', 'redis_memory_used_bytes'])
      assert.ok(metricValue(body, name) > 0, name);
    assert.ok(!body.includes(secret), "the signing key's value is in the scrape");
    const keyLines = body.split('\n').filter((line) => !line.startsWith('#') && /\bkey="camrelay:/.test(line));
    assert.deepEqual(keyLines, [], 'series about camrelay keys');
  });

  it('start.sh refuses a password a redis:// URL would mangle, without printing it', async () => {
    const password = 'not/a@url:safe-password';
    const start = spawnProcess('sh', [REDIS_START, '--port', String(await freePort())], {
      [passwordVariable('capture')]: password,
      [passwordVariable('gateway')]: 'a'.repeat(24),
    });
    assert.equal(await start.exited, 64);
    const output = start.output.join('\n');
    assert.match(output, /REDIS_CAPTURE_PASSWORD: only A-Z a-z 0-9/);
    assert.ok(!output.includes(password), output);
  });
});
