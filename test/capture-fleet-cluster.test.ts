/**
 * A capture fleet on Redis Cluster, whose replication is asynchronous: the master holding a
 * camera's lease is killed in the middle of a hand-over, so its replica may take over without
 * the hand-over's last writes, and two instances may both believe they hold the camera. The
 * epochs make the gateways the judge: the higher epoch wins, each viewer's X-Sequence still
 * rises, and the fleet settles with every camera held by one instance.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { OPEN_GATEWAY, StreamViewer, fetchMetrics } from '@camrelay/clients';
import { cameraLeaseKey } from '@camrelay/bus';
import { epochOf } from '@camrelay/frame';
import { freePort, spawnCapture, spawnGateway, spawnRedisCluster } from '@camrelay/stack';
import type { RedisCluster, RedisClusterNode, Running, Service } from '@camrelay/stack';
import { heldCameras, sequenceFault } from './harness/capture-fleet.js';
import { eventually } from './harness/eventually.js';

const CAMERAS = ['k1', 'k2', 'k3', 'k4'];
const FPS = 15;

describe('a capture fleet on Redis Cluster: the lease master killed during a hand-over', () => {
  let cluster: RedisCluster;
  let gateway: Service;
  const captures: Array<{ running: Running; health: string }> = [];
  const viewers = new Map<string, StreamViewer>();

  const masterOf = async (key: string): Promise<RedisClusterNode> => {
    const slot = Number((await cluster.cli(cluster.nodes[0]!.port, 'cluster', 'keyslot', key)).trim());
    const ranges = JSON.parse(await cluster.cli(cluster.nodes[0]!.port, '--json', 'cluster', 'slots')) as Array<
      [number, number, [string, number]]
    >;
    const port = ranges.find(([from, to]) => slot >= from && slot <= to)?.[2][1];
    return cluster.nodes.find((node) => node.port === port)!;
  };

  /**
   * Watches a lease on the node that holds it: at each write of its hash (a keyspace
   * notification, enabled here on that node) reads it at once, and resolves `reserved` with the
   * successor once a new hand-over reservation (`next`) is there. It is there only from the
   * successor's RESERVE until its TAKE (its standby camera's first frame, ~0.1 s later): a poll
   * at intervals misses it, an event does not. Should the lease be taken (its epoch risen)
   * before a reservation was read, `reserved` rejects: the hand-over went unseen.
   */
  const watchLease = async (node: RedisClusterNode, key: string) => {
    const reader = new Redis(node.port, '127.0.0.1', { maxRetriesPerRequest: 0, retryStrategy: () => null });
    const subscriber = reader.duplicate();
    for (const connection of [reader, subscriber]) connection.on('error', () => undefined); // its node is killed
    await reader.config('SET', 'notify-keyspace-events', 'Kh');
    const [epochAt, nextUntilAt] = await reader.hmget(key, 'epoch', 'nextUntil');
    let settle!: { resolve: (next: string) => void; reject: (error: Error) => void };
    const reserved = new Promise<string>((resolve, reject) => (settle = { resolve, reject }));
    subscriber.on('message', () => {
      reader.hmget(key, 'next', 'nextUntil', 'epoch').then(
        ([next, nextUntil, epoch]) => {
          if (next && nextUntil !== nextUntilAt) settle.resolve(next);
          else if (epoch !== epochAt)
            settle.reject(new Error(`${key} taken (epoch ${epochAt} to ${epoch}) before its reservation was read`));
        },
        (error: Error) => settle.reject(error),
      );
    });
    await subscriber.subscribe(`__keyspace@0__:${key}`);
    return {
      reserved,
      close: () => {
        reader.disconnect();
        subscriber.disconnect();
      },
    };
  };

  before(async () => {
    cluster = await spawnRedisCluster({ masters: 3, replicasPerMaster: 1 });
    const env = { REDIS_CLUSTER_NODES: cluster.seeds };
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const running = await spawnCapture({
        ...env,
        HEALTH_PORT: String(port),
        CAMERAS: CAMERAS.map((id) => `${id}=pattern:160x120@${FPS}`).join(';'),
        CAPTURE_IDLE_AFTER: '600',
      });
      captures.push({ running, health: `http://127.0.0.1:${port}` });
    }
    gateway = await spawnGateway({ ...env, ...OPEN_GATEWAY });
    await eventually(async () => assert.equal((await fetch(`${gateway.baseUrl}/readyz`)).status, 200), 20_000);
    for (const id of CAMERAS) viewers.set(id, new StreamViewer(`${gateway.baseUrl}/cameras/${id}/stream.mjpg`, { keepJpegs: false }));
    await Promise.all(
      [...viewers.values()].map((viewer) => viewer.waitForFrame((frame) => !frame.headers['x-no-signal'], 'a live frame', 0, 30_000)),
    );
  });

  after(async () => {
    for (const viewer of viewers.values()) viewer.close();
    await Promise.all(captures.map((capture) => capture.running.stop()));
    await gateway?.stop();
    await cluster?.stop();
  });

  it('settles with one holder per camera, the higher epoch winning at every viewer', async (t) => {
    const held = await eventually(
      async () => {
        const lists = await Promise.all(captures.map(async (capture) => heldCameras(await fetchMetrics(capture.health))));
        assert.deepEqual(lists.flat().sort(), CAMERAS, 'each camera held once');
        assert.deepEqual(
          lists.map((list) => list.length),
          [2, 2],
          'shared evenly',
        );
        return lists;
      },
      30_000,
      200,
    );
    const [leaving, staying] = captures as [(typeof captures)[0], (typeof captures)[0]];
    const moving = held[0]![0]!;
    const lease = cameraLeaseKey(moving);
    const master = await masterOf(lease);
    const epochBefore = epochOf(viewers.get(moving)!.liveFrames.at(-1)!.sequence);

    // SIGTERM starts the hand-over; the lease's master dies the moment the successor has reserved it, before it takes it.
    const watch = await watchLease(master, lease);
    let successor: string;
    const stopping = leaving.running.stop('SIGTERM');
    try {
      successor = await Promise.race([
        watch.reserved,
        sleep(10_000, undefined, { ref: false }).then(() =>
          Promise.reject(new Error(`no successor reserved ${lease} within 10 s of SIGTERM`)),
        ),
      ]);
      master.process.kill('SIGKILL');
    } finally {
      watch.close();
    }
    t.diagnostic(`killed the master of ${lease} (port ${master.port}) once ${successor} had reserved it`);
    await stopping;

    await eventually(
      async () => assert.deepEqual(heldCameras(await fetchMetrics(staying.health)), CAMERAS, 'the survivor holds every camera'),
      60_000,
      250,
    );
    const from = new Map(CAMERAS.map((id) => [id, viewers.get(id)!.frames.length]));
    for (const id of CAMERAS) {
      const viewer = viewers.get(id)!;
      const live = await viewer.waitForFrame((frame) => !frame.headers['x-no-signal'], `${id}: live`, from.get(id), 30_000);
      // A second of frames after it, for the sequence check.
      await viewer.waitForFrames(viewer.frames.indexOf(live) + 1 + FPS);
    }
    for (const [id, viewer] of viewers) assert.equal(sequenceFault(viewer.frames), undefined, `${id}: X-Sequence rises`);
    const epochAfter = epochOf(viewers.get(moving)!.liveFrames.at(-1)!.sequence);
    t.diagnostic(`${moving}: epoch ${epochBefore} before, ${epochAfter} after`);
    assert.ok(epochAfter > epochBefore, 'the camera that moved is under a newer epoch');
  });
});
