/**
 * On a Redis Cluster a shard that is down costs its own cameras and nothing else: what a
 * camera's viewers need (its directory entry, its claims, its frames) lives in the camera's
 * own slot. The shard that holds the directory's listing index goes down (no replica to take
 * over); a camera on another shard still gets new viewers, still wakes from sleep for them, and
 * still has its snapshots.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPEN_GATEWAY, StreamViewer } from '@camrelay/clients';
import { spawnCapture, spawnGateway, spawnRedisCluster } from '@camrelay/stack';
import type { RedisCluster, RedisClusterNode, Running, Service } from '@camrelay/stack';
import { eventually } from './harness/eventually.js';

/** The key every gateway read for every new viewer before issue 23: the directory (now its listing index). */
const DIRECTORY_INDEX = 'camrelay:cameras';

describe('on a Redis Cluster, a shard that is down', () => {
  let cluster: RedisCluster;
  let capture: Running;
  let gateway: Service;
  let down: RedisClusterNode;
  /** A camera on another shard than the index: watched throughout, and one left asleep. */
  let awake: string;
  let asleep: string;
  const viewers: StreamViewer[] = [];

  const keyslot = async (key: string) => Number((await cluster.cli(cluster.nodes[0]!.port, 'cluster', 'keyslot', key)).trim());
  const masterOf = async (slot: number): Promise<RedisClusterNode> => {
    const ranges = JSON.parse(await cluster.cli(cluster.nodes[0]!.port, '--json', 'cluster', 'slots')) as Array<
      [number, number, [string, number]]
    >;
    const port = ranges.find(([from, to]) => slot >= from && slot <= to)?.[2][1];
    return cluster.nodes.find((node) => node.port === port)!;
  };
  const sleeping = async (id: string) => {
    const cameras = (await (await fetch(`${gateway.baseUrl}/api/cameras`)).json()) as Array<{ id: string; sleeping: boolean }>;
    return cameras.find((camera) => camera.id === id)?.sleeping;
  };

  before(async () => {
    cluster = await spawnRedisCluster({ replicasPerMaster: 0 });
    down = await masterOf(await keyslot(DIRECTORY_INDEX));
    // Two cameras whose slots are on other shards than the index.
    const others: string[] = [];
    for (let i = 0; others.length < 2; i++) {
      const id = `cam${i}`;
      if ((await masterOf(await keyslot(`camrelay:{${id}}:frames`))) !== down) others.push(id);
    }
    [awake, asleep] = others as [string, string];
    const env = { REDIS_CLUSTER_NODES: cluster.seeds };
    capture = await spawnCapture(
      { ...env, CAMERAS: others.map((id) => `${id}=pattern:160x120@10`).join(';'), CAPTURE_IDLE_AFTER: '1' },
      others,
    );
    gateway = await spawnGateway({ ...env, ...OPEN_GATEWAY });
    await eventually(async () => assert.equal((await fetch(`${gateway.baseUrl}/readyz`)).status, 200), 20_000);
    viewers.push(new StreamViewer(`${gateway.baseUrl}/cameras/${awake}/stream.mjpg`, { keepJpegs: false }));
    await viewers[0]!.waitForFrame((frame) => !frame.headers['x-no-signal'], 'a live frame', 0, 20_000);
    // Unwatched, the other camera falls asleep (after CAPTURE_IDLE_AFTER).
    await eventually(async () => assert.equal(await sleeping(asleep), true), 20_000, 200);
  });

  after(async () => {
    for (const viewer of viewers) viewer.close();
    await gateway?.stop();
    await capture?.stop();
    await cluster?.stop();
  });

  it("costs other shards' cameras nothing: new viewers get in, a sleeping camera wakes for them, snapshots answer", async () => {
    down.process.kill('SIGKILL');
    await down.exited;
    // Past the cluster's node timeout: the other nodes know the shard is gone.
    await eventually(
      async () => assert.match(await cluster.cli(cluster.nodes.find((node) => node !== down)!.port, 'cluster', 'nodes'), /fail/),
      10_000,
      100,
    );

    const newcomer = new StreamViewer(`${gateway.baseUrl}/cameras/${awake}/stream.mjpg`, { keepJpegs: false });
    const waking = new StreamViewer(`${gateway.baseUrl}/cameras/${asleep}/stream.mjpg`, { keepJpegs: false });
    viewers.push(newcomer, waking);
    await newcomer.waitForFrame((frame) => !frame.headers['x-no-signal'], 'a live frame for a new viewer', 0, 10_000);
    // Its claim is in its own slot, where capture reads it: the camera opens for the viewer.
    await waking.waitForFrame(
      (frame) => !frame.headers['x-no-signal'] && frame.sequence > 0,
      'a live frame from the woken camera',
      0,
      15_000,
    );
    const snapshot = await fetch(`${gateway.baseUrl}/cameras/${awake}/snapshot.jpg`);
    assert.equal(snapshot.status, 200);
    assert.equal(snapshot.headers.get('content-type'), 'image/jpeg');
    assert.equal(viewers[0]!.isClosed, false, 'the viewer from before the outage streams on');
    // Only the listing, whose index was on that shard, is unavailable.
    const listing = await fetch(`${gateway.baseUrl}/api/cameras`);
    assert.equal(listing.status, 503);
  });
});
