/**
 * No source can stall another (issue 24, part 1): one capture with 8 healthy 640x480@30 MJPEG
 * network cameras, 16 that accept the connection and never answer (a wedged IP camera: opening
 * one blocks OpenCV for seconds) and 4 that reset mid-stream, all served from this machine.
 * Each healthy camera keeps its full rate on the bus, and capture's /metrics and /healthz answer
 * within a second throughout.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { spawnMjpegSources } from '@camrelay/clients';
import type { MjpegSources } from '@camrelay/clients';
import { loadOpenCV, openPattern } from '@camrelay/capture';
import { framesChannel } from '@camrelay/bus';
import { freePort, spawnCapture, spawnRedis } from '@camrelay/stack';
import type { RedisServer, Running } from '@camrelay/stack';
import { eventually } from './harness/eventually.js';

const HEALTHY = 8;
const HUNG = 16;
const RESET = 4;
const FPS = 30;
const MEASURE_MS = 10_000;

/** Thirty distinct 640x480 JPEGs (capture skips a frame identical to the last). */
async function distinctJpegs(): Promise<Buffer[]> {
  const cv = await loadOpenCV(process.env);
  const pattern = openPattern(cv, { width: 640, height: 480, fps: FPS }, 'isolation');
  const jpegs: Buffer[] = [];
  for (let i = 0; i < 30; i++) {
    const frame = await pattern.read();
    if (frame.kind === 'picture') jpegs.push(cv.imencode('.jpg', frame.mat, [cv.IMWRITE_JPEG_QUALITY, 80]));
  }
  return jpegs;
}

interface HealthProbes {
  /** The slowest answer since capture first answered: a probe that failed counts as infinitely slow. */
  readonly slowest: { ms: number; url: string };
  readonly answered: number;
  /** Ends the probing; resolves with the figures once the probe under way is done. */
  stop(): Promise<HealthProbes>;
}

/**
 * Asks capture's /metrics and /healthz, one after the other, until stopped. Refusals before its
 * first answer are capture starting; from then on every ask must be answered.
 */
function probeHealth(base: string): HealthProbes {
  let probing = true;
  let started = false;
  const result = { slowest: { ms: 0, url: '' }, answered: 0, stop };
  const loop = (async () => {
    while (probing) {
      for (const path of ['/metrics', '/healthz']) {
        const startedAt = performance.now();
        let ms: number;
        try {
          const response = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(5000) });
          await response.arrayBuffer();
          ms = response.status === 200 ? performance.now() - startedAt : Infinity;
          started = true;
          result.answered++;
        } catch {
          if (!started) continue;
          ms = Infinity;
        }
        if (ms > result.slowest.ms) result.slowest = { ms, url: path };
      }
      await sleep(100);
    }
  })();
  async function stop() {
    probing = false;
    await loop;
    return result;
  }
  return result;
}

describe('one capture, 8 healthy network cameras among 16 hung and 4 resetting ones', () => {
  let sources: MjpegSources;
  let redis: RedisServer;
  let capture: Running;
  let health = '';
  let probes: HealthProbes | undefined;
  const healthy = Array.from({ length: HEALTHY }, (_, i) => `ok${i}`);

  before(async () => {
    sources = await spawnMjpegSources({ jpegs: await distinctJpegs(), fps: FPS });
    redis = await spawnRedis();
    const port = await freePort();
    health = `http://127.0.0.1:${port}`;
    // Probed from before capture starts: opening the cameras at start is part of "throughout".
    probes = probeHealth(health);
    const cameras = [
      ...healthy.map((id, i) => `${id}=${sources.url('healthy', i)},always`),
      ...Array.from({ length: HUNG }, (_, i) => `hung${i}=${sources.url('hung', i)},always`),
      ...Array.from({ length: RESET }, (_, i) => `reset${i}=${sources.url('reset', i)},always`),
    ];
    capture = await spawnCapture({ REDIS_URL: redis.url, HEALTH_PORT: String(port), CAMERAS: cameras.join(';') });
  });

  after(async () => {
    await probes?.stop();
    await capture?.stop();
    await redis?.stop();
    await sources?.close();
  });

  it('keeps every healthy camera at full rate, and answers /metrics and /healthz within a second', async (t) => {
    const subscriber = new Redis(redis.url);
    const counts = new Map(healthy.map((id) => [framesChannel(id), 0]));
    subscriber.on('messageBuffer', (channel: Buffer) => {
      const name = channel.toString();
      counts.set(name, (counts.get(name) ?? 0) + 1);
    });
    await subscriber.subscribe(...counts.keys());
    try {
      // Every healthy camera streaming, and every hung source held open by a camera trying to open it.
      await eventually(
        () =>
          assert.ok(
            [...counts.values()].every((count) => count > 0),
            'every healthy camera publishes',
          ),
        60_000,
      );
      await eventually(() => assert.ok(sources.accepted('hung') >= HUNG, 'every hung source connected'), 30_000);
      // Past the start, when every camera's worker loads OpenCV at once: the rate is measured once they all run.
      await eventually(async () => {
        const text = await (await fetch(`${health}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
        const tries = new Map<string, number>();
        for (const [, camera, count] of text.matchAll(/^camrelay_capture_open(?:s|_failures)_total\{camera="([^"]+)"\} (\d+)$/gm))
          tries.set(camera!, (tries.get(camera!) ?? 0) + Number(count));
        assert.ok(tries.size === HEALTHY + HUNG + RESET && [...tries.values()].every((count) => count > 0), 'every camera tried to open');
      }, 60_000);
      const start = new Map(counts);
      const startedAt = performance.now();
      await sleep(MEASURE_MS);
      const seconds = (performance.now() - startedAt) / 1000;
      const rates = healthy.map((id) => (counts.get(framesChannel(id))! - start.get(framesChannel(id))!) / seconds);
      t.diagnostic(`healthy cameras' fps: ${rates.map((rate) => rate.toFixed(1)).join(', ')}`);
      const { slowest, answered } = probes!;
      t.diagnostic(`slowest of ${answered} probes since capture's first answer: ${slowest.url} in ${slowest.ms.toFixed(0)} ms`);
      t.diagnostic(`hung sources connected ${sources.accepted('hung')} times; reset sources ${sources.accepted('reset')} times`);
      for (const [i, rate] of rates.entries()) assert.ok(rate >= 29, `${healthy[i]}: ${rate.toFixed(1)} fps`);
      assert.ok(sources.accepted('reset') > RESET, 'the reset sources were reconnected');
    } finally {
      subscriber.disconnect();
    }
    const { slowest } = await probes!.stop();
    assert.ok(
      slowest.ms < 1000,
      `${slowest.url} ${Number.isFinite(slowest.ms) ? `answered in ${slowest.ms.toFixed(0)} ms` : 'went unanswered'}`,
    );
  });
});
