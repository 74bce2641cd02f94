/**
 * Failures that used to pass in silence (issue 23 finding 9), on a real redis-server and real
 * gateway processes. A Redis user that may not run scripts (the camera claims are one) stops
 * the gateway at start, naming the permission; claims Redis does not record are counted
 * (camrelay_claim_failures_total); frames from a capture host whose clock runs more than 2 s
 * ahead are dropped with one warning per camera and the skew is exported
 * (camrelay_camera_clock_skew_seconds), and they flow again once the clocks agree.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { RedisBus, cameraClaimsKey } from '@camrelay/bus';
import type { CameraInfo } from '@camrelay/bus';
import { StreamViewer, metricValue } from '@camrelay/clients';
import { encodeEnvelope } from '@camrelay/frame';
import { GATEWAY_NODE_FLAGS, freePort, spawnGateway, spawnProcess, spawnRedis } from '@camrelay/stack';
import type { RedisServer, Service } from '@camrelay/stack';
import { REDIS_USERS_ACL } from './harness/acl-redis.js';
import { eventually } from './harness/eventually.js';

const TOKEN = 'silent-failures-token-0123456789';
/** A stand-in JPEG: the gateway forwards bytes, it never decodes them. */
const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xd9]);

/** A camera as capture announces it, with a frame just now. */
function cameraInfo(id: string): CameraInfo {
  return { id, width: 16, height: 16, fps: 10, lastFrameAt: Date.now(), sleeping: false, sizes: ['16x16'] };
}

/**
 * The gateway user of deploy/redis/users.acl without `+eval`: what an operator who wrote the
 * rules by hand from the command list, missing the scripts, would have. As ACL SETUSER arguments.
 */
function gatewayRulesWithoutEval(): string[] {
  const line = readFileSync(REDIS_USERS_ACL, 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith('user gateway '));
  assert.ok(line, 'users.acl has a gateway user');
  const rules = line.slice('user gateway '.length).match(/\([^)]*\)|\S+/g) ?? [];
  const withoutEval = rules.map((rule) => rule.replace(/(^|[\s(])\+eval(?=[\s)])/g, '$1').replace(/\(\s+/, '('));
  assert.ok(withoutEval.join(' ') !== rules.join(' '), 'the shipped gateway user has +eval');
  return withoutEval;
}

describe('failures that used to be silent', () => {
  let redis: RedisServer;
  let admin: Redis;
  /** Announces cameras and publishes frames on the Redis bus, as capture would. */
  let capture: RedisBus;
  let gateway: Service;

  before(async () => {
    redis = await spawnRedis();
    admin = new Redis(redis.url);
    capture = new RedisBus({ url: redis.url });
    await new Promise<void>((resolve) => (capture.isUp ? resolve() : capture.once('up', () => resolve())));
    await capture.announceCameras([cameraInfo('lab'), cameraInfo('sky')]);
    gateway = await spawnGateway({ REDIS_URL: redis.url, API_TOKENS: TOKEN, LOG_LEVEL: 'info' });
  });

  after(async () => {
    await gateway?.stop();
    await capture?.close();
    admin?.disconnect();
    await redis?.stop();
  });

  const metrics = async () => {
    const response = await fetch(`${gateway.baseUrl}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(response.status, 200);
    return response.text();
  };

  it('stops at start, naming EVAL, when its Redis user may not run scripts', async () => {
    await admin.call('ACL', 'SETUSER', 'gateway-no-eval', ...gatewayRulesWithoutEval(), '>no-eval-password');
    const port = await freePort();
    const refused = spawnProcess(process.execPath, [...GATEWAY_NODE_FLAGS, 'services/gateway/dist/main.js'], {
      REDIS_URL: `redis://gateway-no-eval:no-eval-password@127.0.0.1:${redis.port}`,
      API_TOKENS: TOKEN,
      PORT: String(port),
      LOG_LEVEL: 'info',
    });
    const timer = setTimeout(() => void refused.stop('SIGKILL'), 20_000);
    const code = await refused.exited;
    clearTimeout(timer);
    assert.equal(code, 1, `exit code; output:\n${refused.output.join('\n')}`);
    const fatal = refused.output.find((line) => line.includes('may not run the camera claim script'));
    assert.ok(fatal, `a line says why; output:\n${refused.output.join('\n')}`);
    assert.match(fatal, /it lacks the EVAL command \(grant it \+eval\)/);
    assert.match(fatal, /"level":60/, 'logged as fatal');
  });

  it('counts claims Redis does not record in camrelay_claim_failures_total, and keeps serving', async () => {
    assert.equal(metricValue(await metrics(), 'camrelay_claim_failures_total'), 0, 'the start-up probe succeeded');
    // A key of the wrong type where lab's claims live: every claim on lab fails (WRONGTYPE).
    await admin.set(cameraClaimsKey('lab'), 'not a sorted set');
    await capture.publishFrame('lab', encodeEnvelope({ sequence: 1, capturedAt: Date.now(), width: 16, height: 16, jpeg: JPEG }));
    const viewer = new StreamViewer(`${gateway.baseUrl}/cameras/lab/stream.mjpg`, { headers: { authorization: `Bearer ${TOKEN}` } });
    try {
      await viewer.waitForFrames(1);
      // The claim when the viewer came, then its renewals every 2 s.
      await eventually(async () => assert.ok(metricValue(await metrics(), 'camrelay_claim_failures_total') >= 2));
      assert.equal(gateway.process.exitCode, null, 'a failed claim is no reason to stop');
      assert.equal((await fetch(`${gateway.baseUrl}/healthz`)).status, 200);
    } finally {
      viewer.close();
      await admin.del(cameraClaimsKey('lab'));
    }
  });

  it('drops frames from a capture clock 5 s ahead with one warning, exports the skew, and streams once clocks agree', async () => {
    const viewer = new StreamViewer(`${gateway.baseUrl}/cameras/sky/stream.mjpg`, { headers: { authorization: `Bearer ${TOKEN}` } });
    let sequence = 1;
    const publish = (aheadMs: number) =>
      capture.publishFrame(
        'sky',
        encodeEnvelope({ sequence: sequence++, capturedAt: Date.now() + aheadMs, width: 16, height: 16, jpeg: JPEG }),
      );
    const warnings = () => gateway.output.filter((line) => line.includes('"camera":"sky"') && line.includes('ahead of this gateway'));
    try {
      // Subscribed once the viewer has its first picture (STARTING or NO SIGNAL: sky has sent nothing).
      await viewer.waitForFrames(1);
      const dropped = metricValue(await metrics(), 'camrelay_bus_messages_dropped_total');
      const skewed = 20;
      for (let i = 0; i < skewed; i++) await publish(5000);
      await eventually(async () => {
        const text = await metrics();
        assert.equal(metricValue(text, 'camrelay_bus_messages_dropped_total') - dropped, skewed);
        const skew = metricValue(text, 'camrelay_camera_clock_skew_seconds', 'camera="sky"');
        assert.ok(skew > 4.5 && skew <= 5, `skew ${skew} s`);
      });
      assert.ok(
        viewer.frames.every((frame) => frame.headers['x-no-signal'] !== undefined),
        'the viewer got stand-in pictures only',
      );
      assert.equal(warnings().length, 1, `one warning for ${skewed} frames:\n${warnings().join('\n')}`);
      assert.match(warnings()[0]!, /"level":40/);
      assert.match(warnings()[0]!, /"aheadSeconds":(4\.9|5)\b/);

      // The capture host's clock is put right: its frames flow, and the skew is transit alone.
      const seen = viewer.frames.length;
      const timer = setInterval(() => void publish(0), 50);
      try {
        await eventually(() => assert.ok(viewer.frames.slice(seen).some((frame) => frame.headers['x-no-signal'] === undefined)));
      } finally {
        clearInterval(timer);
      }
      const skew = metricValue(await metrics(), 'camrelay_camera_clock_skew_seconds', 'camera="sky"');
      assert.ok(skew > -0.5 && skew <= 0, `skew ${skew} s`);
      assert.equal(warnings().length, 1, 'still one warning');
    } finally {
      viewer.close();
    }
  });
});
