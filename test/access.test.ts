/**
 * Access control as a user meets it, on two gateways sharing one Redis: bearer tokens for the
 * API, tokens limited to cameras, signed expiring URLs that any gateway accepts, and answers
 * that reveal nothing about which cameras exist.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createHmac } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { StreamViewer, metricValue } from '@camrelay/clients';
import { spawnGateway, spawnProcess } from '@camrelay/stack';
import type { RedisServer, Service } from '@camrelay/stack';
import { eventually } from './harness/eventually.js';
import { startRelay } from './harness/relay.js';
import type { Relay } from './harness/relay.js';

const ADMIN = 'admin-token-0123456789abcdef';
const LAB_ONLY = 'lab-only-token-0123456789';
const SIGNING_KEY = 'a-signing-key-shared-by-every-gateway-0123';

interface ErrorBody {
  error: { code: string; message: string };
}

describe('access control', () => {
  let relay: Relay;
  let gateways: readonly Service[];

  before(async () => {
    relay = await startRelay({
      cameras: 'lab=pattern:160x120@10;yard=pattern:160x120@10',
      gateways: 2,
      gatewayEnv: { API_TOKENS: `${ADMIN}; ${LAB_ONLY}=lab`, URL_SIGNING_KEY: SIGNING_KEY },
    });
    gateways = relay.gateways;
  });

  after(async () => {
    await relay?.stop();
  });

  const get = (path: string, token?: string, gateway = 0) =>
    fetch(`${gateways[gateway]!.baseUrl}${path}`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });

  it('is on by default with REDIS_URL: no token or a wrong one is 401 JSON everywhere but health', async () => {
    for (const path of [
      '/api/cameras',
      '/api/cameras/lab/urls',
      '/cameras/lab/stream.mjpg',
      '/cameras/lab/snapshot.jpg',
      '/video_feed',
      '/metrics',
    ]) {
      for (const token of [undefined, 'wrong-token-0123456789abcdef']) {
        const response = await get(path, token);
        assert.equal(response.status, 401, `${path} with ${token ?? 'no token'}`);
        assert.match(String(response.headers.get('www-authenticate')), /^Bearer/);
        assert.equal(((await response.json()) as ErrorBody).error.code, 'unauthorized');
      }
    }
    for (const path of ['/healthz', '/readyz', '/']) assert.equal((await get(path)).status, 200, path);
  });

  it('limits a token to its cameras, and answers a forbidden camera exactly as one that does not exist', async () => {
    const cameras = (await (await get('/api/cameras', LAB_ONLY)).json()) as Array<{ id: string }>;
    assert.deepEqual(
      cameras.map((camera) => camera.id),
      ['lab'],
    );
    const forbidden = await get('/cameras/yard/snapshot.jpg', LAB_ONLY);
    const missing = await get('/cameras/no-such-camera/snapshot.jpg', LAB_ONLY);
    assert.equal(forbidden.status, 403);
    assert.equal(missing.status, 403);
    assert.deepEqual(await forbidden.json(), await missing.json());
    assert.equal((await get('/cameras/yard/stream.mjpg', LAB_ONLY)).status, 403);
    assert.equal((await get('/api/cameras/yard/urls', LAB_ONLY)).status, 403);
    assert.equal((await get('/metrics', LAB_ONLY)).status, 403, 'metrics name every camera');
    assert.equal((await get('/cameras/lab/snapshot.jpg', LAB_ONLY)).headers.get('content-type'), 'image/jpeg');

    const all = (await (await get('/api/cameras', ADMIN)).json()) as Array<{ id: string }>;
    assert.deepEqual(all.map((camera) => camera.id).sort(), ['lab', 'yard']);
    assert.equal((await get('/cameras/no-such-camera/snapshot.jpg', ADMIN)).status, 404);
    assert.equal((await get('/metrics', ADMIN)).status, 200);
  });

  it('hands out signed URLs that work without credentials on any gateway, for that camera only', async () => {
    const urls = (await (await get('/api/cameras/lab/urls?ttl=60&viewer=alice', LAB_ONLY)).json()) as {
      streamUrl: string;
      snapshotUrl: string;
      expiresAt: string;
    };
    assert.ok(Math.abs(Date.parse(urls.expiresAt) - (Date.now() + 60_000)) < 5000);
    const listed = (await (await get('/api/cameras', LAB_ONLY)).json()) as Array<{ streamUrl: string; sizes: string[] }>;
    assert.match(listed[0]!.streamUrl, /^\/cameras\/lab\/stream\.mjpg\?exp=\d+&sig=/);

    // Made by gateway 0, used on gateway 1: nothing about it is kept by the gateway that signed it.
    const snapshot = await get(urls.snapshotUrl, undefined, 1);
    assert.equal(snapshot.status, 200);
    assert.equal(snapshot.headers.get('content-type'), 'image/jpeg');
    // A size added to a signed URL (what the viewer page does) keeps it valid.
    assert.equal((await get(`${urls.snapshotUrl}&size=${listed[0]!.sizes[1]}`, undefined, 1)).status, 200);
    const signedStreams = async (gateway: number) =>
      metricValue(await (await get('/metrics', ADMIN, gateway)).text(), 'camrelay_signed_streams_opened_total');
    const before = [await signedStreams(0), await signedStreams(1)];
    const viewer = new StreamViewer(`${gateways[1]!.baseUrl}${urls.streamUrl}`);
    try {
      await viewer.waitForFrames(3);
    } finally {
      viewer.close();
    }
    assert.deepEqual(
      [(await signedStreams(0)) - before[0]!, (await signedStreams(1)) - before[1]!],
      [0, 1],
      'camrelay_signed_streams_opened_total: opened on gateway 1, through the signed URL',
    );
    // What the log says, not state: the signed URL's viewer is named when its stream opens (docs/http-api.md).
    await gateways[1]!.waitFor(/"viewer":"alice".*signed stream opened/);

    const tampered = [
      urls.snapshotUrl.replace('/lab/', '/yard/'),
      urls.snapshotUrl.replace('viewer=alice', 'viewer=mallory'),
      urls.snapshotUrl.replace(/exp=(\d+)/, (_, exp: string) => `exp=${Number(exp) + 3600}`),
      urls.snapshotUrl.replace(/sig=.*/, 'sig=AAAA'),
    ];
    for (const url of tampered) {
      const response = await get(url);
      assert.equal(response.status, 403, url);
      assert.equal(((await response.json()) as ErrorBody).error.code, 'forbidden', url);
    }
  });

  it('refuses an expired URL with 403, and says it expired only when the signature is genuine', async () => {
    // Signed here as the README documents, with the shared URL_SIGNING_KEY: scripts can do the same.
    const exp = Math.floor(Date.now() / 1000) - 5;
    const key = createHmac('sha256', 'camrelay signed URL key').update(SIGNING_KEY).digest();
    const sig = createHmac('sha256', key).update(`v1\nlab\n${exp}\n`).digest('base64url');
    const expired = await get(`/cameras/lab/snapshot.jpg?exp=${exp}&sig=${sig}`);
    assert.equal(expired.status, 403);
    assert.equal(((await expired.json()) as ErrorBody).error.code, 'expired');

    const fresh = createHmac('sha256', key)
      .update(`v1\nlab\n${exp + 600}\n`)
      .digest('base64url');
    assert.equal(
      (await get(`/cameras/lab/snapshot.jpg?exp=${exp + 600}&sig=${fresh}`)).status,
      200,
      'the same computation, unexpired, is accepted',
    );
  });
});

describe('signed URLs without URL_SIGNING_KEY', () => {
  let relay: Relay;
  let redis: RedisServer;
  let gateways: readonly Service[];

  before(async () => {
    relay = await startRelay({ cameras: 'lab=pattern:160x120@10', gateways: 2, gatewayEnv: { API_TOKENS: LAB_ONLY } });
    redis = relay.redis!;
    gateways = relay.gateways;
  });

  after(async () => {
    await relay?.stop();
  });

  const snapshotUrlFrom = async (gateway: Service) => {
    const response = await fetch(`${gateway.baseUrl}/api/cameras/lab/urls`, { headers: { Authorization: `Bearer ${LAB_ONLY}` } });
    return ((await response.json()) as { snapshotUrl: string }).snapshotUrl;
  };
  const status = async (gateway: Service, path: string) => (await fetch(`${gateway.baseUrl}${path}`)).status;

  it('share a random key through Redis: URLs from one gateway work on the other, none can be made from the token', async () => {
    // Each offers its key as soon as its Redis connection is up.
    await eventually(async () => assert.equal(await status(gateways[1]!, await snapshotUrlFrom(gateways[0]!)), 200), 5000, 100);
    assert.equal(await status(gateways[0]!, await snapshotUrlFrom(gateways[1]!)), 200);
    // 0.3 derived the key from the tokens: whoever held one could sign URLs for every camera.
    const derived = createHmac('sha256', 'camrelay signed URL key').update(LAB_ONLY).digest();
    const exp = Math.floor(Date.now() / 1000) + 60;
    const sig = createHmac('sha256', derived).update(`v1\nlab\n${exp}\n`).digest('base64url');
    assert.equal(await status(gateways[0]!, `/cameras/lab/snapshot.jpg?exp=${exp}&sig=${sig}`), 403);
  });

  it('end a stream when its signed URL expires', async () => {
    const response = await fetch(`${gateways[0]!.baseUrl}/api/cameras/lab/urls?ttl=10`, {
      headers: { Authorization: `Bearer ${LAB_ONLY}` },
    });
    const { streamUrl, expiresAt } = (await response.json()) as { streamUrl: string; expiresAt: string };
    const viewer = new StreamViewer(`${gateways[1]!.baseUrl}${streamUrl}`);
    try {
      await viewer.waitForFrames(3);
      const stillOpen = sleep(15_000).then(() => Promise.reject(new Error('the stream was still open 5 s after its URL expired')));
      await Promise.race([viewer.ended, stillOpen]);
      const late = Date.now() - Date.parse(expiresAt);
      assert.ok(late > -1000 && late < 1500, `ended ${late} ms after the URL expired`);
    } finally {
      viewer.close();
    }
  });

  it('agree on a key again after Redis lost it', async () => {
    const client = new Redis(redis.url);
    try {
      await client.flushall();
      // Both re-offer their key every 5 s; the first to do so sets it and the other adopts it.
      await eventually(async () => assert.equal(await status(gateways[1]!, await snapshotUrlFrom(gateways[0]!)), 200), 15_000, 500);
      assert.equal(await status(gateways[0]!, await snapshotUrlFrom(gateways[1]!)), 200);
    } finally {
      await client.quit();
    }
  });

  it('rotate their key with `npm run rotate-signing-key`: old URLs get 403 on every gateway within seconds, new ones work everywhere', async () => {
    await eventually(async () => assert.equal(await status(gateways[1]!, await snapshotUrlFrom(gateways[0]!)), 200), 15_000, 500);
    const old = [await snapshotUrlFrom(gateways[0]!), await snapshotUrlFrom(gateways[1]!)];
    const rotation = spawnProcess('npm', ['run', '-s', 'rotate-signing-key'], { REDIS_URL: redis.url });
    assert.equal(await rotation.exited, 0, rotation.output.join('\n'));
    const rotatedAt = Date.now();
    await eventually(
      async () => {
        for (const gateway of gateways)
          for (const url of old) assert.equal(await status(gateway, url), 403, `${url} on ${gateway.baseUrl}`);
      },
      15_000,
      200,
    );
    const followedWithinMs = Date.now() - rotatedAt;
    assert.ok(followedWithinMs < 8000, `old URLs were refused ${followedWithinMs} ms after the rotation`);
    // The old key is not offered back, however often the gateways resync.
    await eventually(async () => assert.equal(await status(gateways[1]!, await snapshotUrlFrom(gateways[0]!)), 200), 5000, 200);
    assert.equal(await status(gateways[0]!, await snapshotUrlFrom(gateways[1]!)), 200);
    for (const url of old) assert.equal(await status(gateways[0]!, url), 403);
  });
});

describe('the lifetime a token may ask for', () => {
  let gateway: Service;
  const LONG_LIVED = 'long-lived-token-0123456789';
  const METRICS_ONLY = 'prometheus-token-0123456789';

  before(async () => {
    gateway = await spawnGateway({
      REDIS_URL: '',
      CAMERAS: 'lab=pattern:160x120@5',
      AUTH: 'on',
      API_TOKENS: `${LAB_ONLY}=lab; ${LONG_LIVED}=lab maxttl=604800; ${METRICS_ONLY} scope=metrics`,
      SIGNED_URL_TTL: '600',
    });
  });

  after(async () => {
    await gateway?.stop();
  });

  const ask = (ttl: number, token: string) =>
    fetch(`${gateway.baseUrl}/api/cameras/lab/urls?ttl=${ttl}`, { headers: { Authorization: `Bearer ${token}` } });

  it('is SIGNED_URL_TTL unless the token was granted more', async () => {
    assert.equal((await ask(600, LAB_ONLY)).status, 200);
    const refused = await ask(601, LAB_ONLY);
    assert.equal(refused.status, 403);
    assert.equal(((await refused.json()) as ErrorBody).error.code, 'ttl_not_allowed');
    assert.equal((await ask(7 * 24 * 3600, LAB_ONLY)).status, 403);
    const granted = await ask(7 * 24 * 3600, LONG_LIVED);
    assert.equal(granted.status, 200);
    const { expiresAt } = (await granted.json()) as { expiresAt: string };
    assert.ok(Date.parse(expiresAt) > Date.now() + 6 * 24 * 3600 * 1000);
  });

  it('lets a scope=metrics token read /metrics and view nothing', async () => {
    const as = (path: string, token: string) => fetch(`${gateway.baseUrl}${path}`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal((await as('/metrics', METRICS_ONLY)).status, 200);
    assert.equal((await as('/metrics', LAB_ONLY)).status, 403, 'a viewing token for some cameras does not');
    for (const path of ['/cameras/lab/snapshot.jpg', '/cameras/lab/stream.mjpg', '/api/cameras/lab/urls']) {
      assert.equal((await as(path, METRICS_ONLY)).status, 403, path);
    }
    assert.deepEqual(await (await as('/api/cameras', METRICS_ONLY)).json(), []);
  });
});
