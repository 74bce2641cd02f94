/**
 * What every FrameBus promises, run against each implementation: the in-memory bus of the
 * embedded mode, the Redis bus on a real redis-server and the sharded pub/sub bus on a real Redis
 * Cluster. A new bus joins the list below and must pass the same suite.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { MAX_KEPT_SEGMENTS, MemoryBus, RedisBus, RedisClusterBus } from '@camrelay/bus';
import type { FrameBus } from '@camrelay/bus';
import { spawnRedis, spawnRedisCluster } from '@camrelay/stack';
import { eventually } from './harness/eventually.js';
import type { RedisCluster, RedisServer } from '@camrelay/stack';

/** Bytes that are not valid UTF-8, so that a bus that passes strings would mangle them. */
const binary = (seed: number, length = 4096) => Buffer.from(Array.from({ length }, (_, i) => (seed * 31 + i * 7) % 256));

/** Resolves with the first `count` envelopes the listener receives. */
function collect(
  bus: FrameBus,
  cameraId: string,
  count: number,
): { received: Buffer[]; done: Promise<Buffer[]>; subscribed: Promise<void> } {
  const received: Buffer[] = [];
  let finish!: (value: Buffer[]) => void;
  const done = new Promise<Buffer[]>((resolve) => (finish = resolve));
  const subscribed = bus.subscribe(cameraId, (envelope) => {
    received.push(envelope);
    if (received.length === count) finish(received);
  });
  return { received, done, subscribed };
}

interface BusUnderTest {
  readonly name: string;
  /** A publisher and a subscriber: the same bus in memory, two processes' buses on Redis. */
  open(): Promise<{ publisher: FrameBus; subscriber: FrameBus }>;
}

let redis: RedisServer | undefined;
let cluster: RedisCluster | undefined;

const buses: BusUnderTest[] = [
  {
    name: 'MemoryBus',
    open() {
      const bus = new MemoryBus();
      return Promise.resolve({ publisher: bus, subscriber: bus });
    },
  },
  {
    name: 'RedisBus',
    async open() {
      redis ??= await spawnRedis();
      const [publisher, subscriber] = [new RedisBus({ url: redis.url }), new RedisBus({ url: redis.url })];
      await Promise.all([publisher, subscriber].filter((bus) => !bus.isUp).map((bus) => once(bus, 'up')));
      return { publisher, subscriber };
    },
  },
  {
    name: 'RedisClusterBus',
    async open() {
      cluster ??= await spawnRedisCluster();
      const seeds = cluster.nodes.map((node) => ({ host: '127.0.0.1', port: node.port }));
      const [publisher, subscriber] = [new RedisClusterBus({ seeds }), new RedisClusterBus({ seeds })];
      await Promise.all([publisher, subscriber].filter((bus) => !bus.isUp).map((bus) => once(bus, 'up')));
      return { publisher, subscriber };
    },
  },
];

after(async () => {
  await redis?.stop();
  await cluster?.stop();
});

for (const busUnderTest of buses) {
  describe(`FrameBus contract: ${busUnderTest.name}`, () => {
    let publisher: FrameBus;
    let subscriber: FrameBus;

    before(async () => {
      ({ publisher, subscriber } = await busUnderTest.open());
    });

    after(async () => {
      await subscriber.close();
      if (publisher !== subscriber) await publisher.close();
    });

    it('is up once connected', () => {
      assert.equal(publisher.isUp, true);
      assert.equal(subscriber.isUp, true);
    });

    it("delivers a camera's envelopes byte for byte, in order, to its subscriber only", async () => {
      const envelopes = Array.from({ length: 50 }, (_, i) => binary(i));
      const wanted = collect(subscriber, 'order', envelopes.length);
      const other = collect(subscriber, 'order-other', 1);
      await Promise.all([wanted.subscribed, other.subscribed]);
      for (const envelope of envelopes) await publisher.publishFrame('order', envelope);
      const received = await wanted.done;
      assert.equal(received.length, envelopes.length);
      for (const [i, envelope] of received.entries()) {
        assert.ok(Buffer.isBuffer(envelope), 'a Buffer, never a string');
        assert.ok(envelope.equals(envelopes[i]!), `envelope ${i} arrived intact and in order`);
      }
      assert.equal(other.received.length, 0, 'another camera heard nothing');
      await subscriber.unsubscribe('order');
      await subscriber.unsubscribe('order-other');
    });

    it("carries a camera's smaller size as a feed of its own: its frames and latest frame apart from the camera's", async () => {
      const small = collect(subscriber, 'feed@320x240', 1);
      const full = collect(subscriber, 'feed', 1);
      await Promise.all([small.subscribed, full.subscribed]);
      await publisher.publishFrame('feed@320x240', binary(7));
      const [envelope] = await small.done;
      assert.ok(envelope!.equals(binary(7)));
      assert.equal(full.received.length, 0, "nothing on the camera's own feed");
      assert.ok((await subscriber.latestFrame('feed@320x240'))?.equals(binary(7)));
      assert.equal(await subscriber.latestFrame('feed'), null);
      await subscriber.unsubscribe('feed@320x240');
      await subscriber.unsubscribe('feed');
    });

    it('keeps the latest envelope of each camera for late joiners, and has none for an unknown camera', async () => {
      await publisher.publishFrame('latest', binary(1));
      await publisher.publishFrame('latest', binary(2));
      const latest = await subscriber.latestFrame('latest');
      assert.ok(latest?.equals(binary(2)), 'the newest envelope');
      assert.equal(await subscriber.latestFrame('never-published'), null);
    });

    it("carries an H.264 feed's segments in order and keeps its group of pictures from the latest keyframe", async () => {
      const video = collect(subscriber, 'gop+h264', 5);
      const jpeg = collect(subscriber, 'gop', 1);
      await Promise.all([video.subscribed, jpeg.subscribed]);
      assert.deepEqual(await subscriber.latestSegments('gop+h264'), [], 'none before the first');
      const segments = [binary(10), binary(11), binary(12), binary(13), binary(14)];
      // A keyframe, a frame after it, then a new group: a keyframe and two frames.
      const keyframes = [true, false, true, false, false];
      for (const [i, segment] of segments.entries()) await publisher.publishSegment('gop+h264', segment, keyframes[i]!);
      const received = await video.done;
      assert.deepEqual(
        received.map((envelope) => segments.findIndex((segment) => segment.equals(envelope))),
        [0, 1, 2, 3, 4],
      );
      assert.equal(jpeg.received.length, 0, "nothing on the camera's motion JPEG feed");
      const kept = await subscriber.latestSegments('gop+h264');
      assert.deepEqual(
        kept.map((envelope) => segments.findIndex((segment) => segment.equals(envelope))),
        [2, 3, 4],
        'the group since the latest keyframe',
      );
      assert.equal(await subscriber.latestFrame('gop'), null);
      await subscriber.unsubscribe('gop+h264');
      await subscriber.unsubscribe('gop');
    });

    it('keeps at most MAX_KEPT_SEGMENTS of a group that no keyframe ends, the newest', async () => {
      await publisher.publishSegment('long+h264', binary(0, 64), true);
      for (let i = 1; i <= MAX_KEPT_SEGMENTS + 5; i++) await publisher.publishSegment('long+h264', binary(i, 64), false);
      const kept = await subscriber.latestSegments('long+h264');
      assert.equal(kept.length, MAX_KEPT_SEGMENTS);
      assert.ok(kept.at(-1)!.equals(binary(MAX_KEPT_SEGMENTS + 5, 64)));
    });

    it('stops delivering after unsubscribe, and may subscribe again', async () => {
      const first = collect(subscriber, 'again', 1);
      await first.subscribed;
      await publisher.publishFrame('again', binary(3));
      await first.done;
      await subscriber.unsubscribe('again');
      await publisher.publishFrame('again', binary(4));
      const second = collect(subscriber, 'again', 1);
      await second.subscribed;
      await publisher.publishFrame('again', binary(5));
      const [envelope] = await second.done;
      assert.ok(envelope!.equals(binary(5)), 'only what was published after subscribing again');
      assert.equal(first.received.length, 1, 'nothing reached the first listener after unsubscribe');
      await subscriber.unsubscribe('again');
    });

    it('refuses a second listener for the same camera', async () => {
      await subscriber.subscribe('twice', () => undefined);
      await assert.rejects(
        subscriber.subscribe('twice', () => undefined),
        /already subscribed/,
      );
      await subscriber.unsubscribe('twice');
    });

    it('lists the cameras a capture announced, on any bus instance', async () => {
      const cameras = [
        {
          id: 'a',
          width: 640,
          height: 480,
          fps: 30,
          lastFrameAt: 1_700_000_000_000,
          sleeping: false,
          sizes: ['640x480', '320x240'],
          tiers: ['mjpeg' as const, 'h264' as const],
        },
        // An entry of a capture from before the H.264 tier: no tiers.
        { id: 'b', width: 320, height: 240, fps: 0, lastFrameAt: null, sleeping: true, sizes: [] },
      ];
      await publisher.announceCameras(cameras);
      const listed = await subscriber.listCameras();
      assert.deepEqual(listed.map((camera) => camera.id).sort(), ['a', 'b']);
      assert.deepEqual(
        listed.find((camera) => camera.id === 'a'),
        cameras[0],
      );
      assert.deepEqual(
        listed.find((camera) => camera.id === 'b'),
        cameras[1],
      );
    });

    it('drops a camera from the directory once it is not announced again in time (removed from CAMERAS)', async () => {
      const camera = (id: string) => ({ id, width: 320, height: 240, fps: 10, lastFrameAt: null, sleeping: false, sizes: [] });
      const ttlMs = 500;
      await publisher.announceCameras([camera('kept'), camera('removed')], ttlMs);
      assert.ok((await subscriber.listCameras()).some((listed) => listed.id === 'removed'));
      assert.equal((await subscriber.cameraInfo('removed'))?.id, 'removed');
      const announcedAt = performance.now();
      // Capture goes on announcing what is still in CAMERAS.
      const renewal = setInterval(() => void publisher.announceCameras([camera('kept')], ttlMs), 100);
      try {
        await eventually(async () => assert.equal(await subscriber.cameraInfo('removed'), null), 5000, 20);
        assert.ok(performance.now() - announcedAt >= ttlMs - 50, 'not before its time');
        const listed = (await subscriber.listCameras()).map(({ id }) => id);
        assert.ok(listed.includes('kept') && !listed.includes('removed'), listed.join(','));
        assert.equal((await subscriber.cameraInfo('kept'))?.id, 'kept');
      } finally {
        clearInterval(renewal);
      }
    });

    it("keeps a camera watched while any holder's claim is live, until each withdraws it", async () => {
      const ttlMs = 60_000;
      await publisher.markWatched('gateway-1', ['claims-a', 'claims-b'], ttlMs);
      await subscriber.markWatched('gateway-2', ['claims-a'], ttlMs);
      const watched = () => publisher.watchedFeeds(['claims-a', 'claims-b']).then(({ feeds }) => [...feeds].sort());
      assert.deepEqual(await watched(), ['claims-a', 'claims-b']);
      await publisher.unmarkWatched('gateway-1', 'claims-a');
      assert.deepEqual(await watched(), ['claims-a', 'claims-b'], 'gateway-2 still watches claims-a');
      await subscriber.unmarkWatched('gateway-2', 'claims-a');
      assert.deepEqual(await watched(), ['claims-b']);
      await publisher.unmarkWatched('gateway-1', 'claims-b');
      assert.deepEqual(await watched(), []);
    });

    it('forgets a claim that was not renewed within its time (a holder that died)', async () => {
      const ttlMs = 400;
      const claimedAt = performance.now();
      await publisher.markWatched('gateway-dead', ['claims-expire'], ttlMs);
      await subscriber.markWatched('gateway-alive', ['claims-renewed'], 60_000);
      const watched = async () => (await subscriber.watchedFeeds(['claims-expire', 'claims-renewed'])).feeds;
      assert.ok((await watched()).has('claims-expire'));
      await eventually(async () => assert.equal((await watched()).has('claims-expire'), false), 5000, 20);
      assert.ok(performance.now() - claimedAt >= ttlMs - 50, 'not before its time');
      assert.ok((await watched()).has('claims-renewed'), "another holder's claim is untouched");
      await subscriber.unmarkWatched('gateway-alive', 'claims-renewed');
    });

    it('shares one secret: the first candidate offered under a name, whoever asks later', async () => {
      const name = `contract-${process.pid}`;
      assert.equal(await publisher.sharedSecret(name, 'first-candidate'), 'first-candidate');
      assert.equal(await subscriber.sharedSecret(name, 'second-candidate'), 'first-candidate');
      assert.equal(await subscriber.sharedSecret(`${name}-other`, 'second-candidate'), 'second-candidate');
    });
  });
}
