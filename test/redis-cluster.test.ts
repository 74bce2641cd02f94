/**
 * Past one Redis: capture and two gateways on a real Redis Cluster (3 masters, 3 replicas,
 * local redis-server processes, a 1 s cluster-node-timeout). A camera's frames must travel
 * only through the shard that owns its slot (sharded pub/sub, never a broadcast); a master's
 * death or silence (SIGSTOP), a slot's migration and a subscriber connection cut by a shard darken only that
 * shard's cameras, for seconds, and drop no viewer; and everything started before the cluster
 * existed comes up by itself.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { OPEN_GATEWAY, StreamViewer } from '@camrelay/clients';
import type { ReceivedFrame } from '@camrelay/clients';
import { spawnCapture, spawnGateway, spawnRedisCluster } from '@camrelay/stack';
import type { RedisCluster, RedisClusterNode, Running, Service } from '@camrelay/stack';
import { eventually } from './harness/eventually.js';

const FPS = 10;
/** The slot ranges `redis-cli --cluster create` gives three masters. */
const SHARD_RANGES = [
  [0, 5460],
  [5461, 10922],
  [10923, 16383],
] as const;
const CAMERAS_PER_SHARD = 2;
/** A camera whose shard is healthy may lose a frame to a busy machine, never a second of them. */
const MAX_SILENCE_MS = 700;

interface Camera {
  readonly id: string;
  readonly slot: number;
  /** Index into SHARD_RANGES: the shard that owned the camera's slot at the start. */
  readonly shard: number;
}

describe('on a Redis Cluster with sharded pub/sub', () => {
  let cluster: RedisCluster;
  let capture: Running;
  const gateways: Service[] = [];
  const cameras: Camera[] = [];
  /** Every camera, one viewer per gateway. */
  const viewers = new Map<string, StreamViewer[]>();
  let readyBeforeCluster: number[] = [];

  const slotOf = async (id: string) =>
    Number((await cluster.cli(cluster.nodes[0]!.port, 'cluster', 'keyslot', `camrelay:{${id}}:frames`)).trim());
  const nodeId = async (node: RedisClusterNode) => (await cluster.cli(node.port, 'cluster', 'myid')).trim();
  const isMaster = async (node: RedisClusterNode) => (await cluster.cli(node.port, 'role')).startsWith('master');
  /** The live master that serves `slot`, as the cluster itself says. */
  const masterOf = async (slot: number, via: RedisClusterNode): Promise<RedisClusterNode> => {
    const slots = await cluster.cli(via.port, '--json', 'cluster', 'slots');
    const ranges = JSON.parse(slots) as Array<[number, number, [string, number, string]]>;
    const port = ranges.find(([from, to]) => slot >= from && slot <= to)?.[2][1];
    const node = cluster.nodes.find((candidate) => candidate.port === port);
    if (!node) throw new Error(`no master for slot ${slot}`);
    return node;
  };
  const readyz = async (gateway: Service) => (await fetch(`${gateway.baseUrl}/readyz`)).status;
  const stats = async (node: RedisClusterNode) => {
    const info = await cluster.cli(node.port, 'info', 'stats');
    const field = (name: string) => Number(new RegExp(`${name}:(\\d+)`).exec(info)?.[1] ?? NaN);
    // What the node sent its clients (the gateways), without what it sent its replica.
    return { clientEgress: field('total_net_output_bytes') - field('total_net_repl_output_bytes') };
  };
  /**
   * The longest time, from `since` on, that a viewer went without a frame. At FPS frames a
   * second a frame lost to a busy machine is 2/FPS s; a stalled shard is seconds.
   */
  const longestSilence = (frames: readonly ReceivedFrame[], since: number) =>
    frames.reduce((worst, frame, i) => Math.max(worst, frame.receivedAt - (i === 0 ? since : frames[i - 1]!.receivedAt)), 0);
  /** The other cameras' viewers kept receiving frames from `since` until now. */
  const assertUndisturbed = (others: readonly Camera[], marks: ReadonlyMap<string, number[]>, since: number) => {
    for (const { id } of others) {
      for (const [i, viewer] of viewers.get(id)!.entries()) {
        const window = viewer.frames.slice(marks.get(id)![i]).filter((frame) => frame.receivedAt >= since);
        const silence = longestSilence(window, since);
        assert.ok(
          window.length >= ((Date.now() - since) / 1000) * FPS * 0.7,
          `${id} on gateway ${i} kept its rate (${window.length} frames)`,
        );
        assert.ok(silence <= MAX_SILENCE_MS, `${id} on gateway ${i} never went ${MAX_SILENCE_MS} ms without a frame (${silence} ms)`);
      }
    }
  };

  /** How many frames each viewer has had so far, per camera. */
  const frameCounts = () => new Map([...viewers].map(([id, list]) => [id, list.map((viewer) => viewer.frames.length)]));
  /**
   * The second after: `affected` stream at their rate again; every other camera went on
   * undisturbed since `since`; no viewer connection was dropped.
   */
  const assertRecovered = async (affected: readonly Camera[], marks: ReadonlyMap<string, number[]>, since: number) => {
    const before = frameCounts();
    await sleep(1000);
    for (const { id } of affected)
      for (const [i, viewer] of viewers.get(id)!.entries())
        assert.ok(viewer.frames.length - before.get(id)![i]! >= FPS * 0.7, `${id} streams again (gateway ${i})`);
    assertUndisturbed(
      cameras.filter((camera) => !affected.includes(camera)),
      marks,
      since,
    );
    for (const viewer of [...viewers.values()].flat()) assert.equal(viewer.isClosed, false, 'no viewer connection dropped');
  };

  const liveNode = () => cluster.nodes.find((node) => node.process.exitCode === null && node.process.signalCode === null)!;
  /**
   * What `act` does to the cluster darkens `darkened` for at most 2 s (they stream at their
   * rate in the second after), and no other camera notices; no viewer connection is dropped.
   */
  const assertOnlyDarkens = async (t: TestContext, what: string, darkened: readonly Camera[], act: () => Promise<void>) => {
    const marks = frameCounts();
    const since = Date.now();
    await act();
    await sleep(Math.max(0, since + 2000 - Date.now()));
    for (const { id } of darkened) {
      for (const [i, viewer] of viewers.get(id)!.entries()) {
        const silence = longestSilence(
          viewer.frames.slice(marks.get(id)![i]).filter((frame) => frame.receivedAt >= since),
          since,
        );
        t.diagnostic(`${id} on gateway ${i}: longest without a frame ${what}: ${silence} ms`);
        assert.ok(silence <= 2000, `${id} dark for at most 2 s (${silence} ms)`);
      }
    }
    await assertRecovered(darkened, marks, since);
  };

  /**
   * A master goes (killed, or stopped: silent, its connections left open): its replica is
   * promoted, the cameras it served are live within 3 s of that and stream at their rate, the
   * other cameras never notice, and no viewer connection is dropped.
   */
  const assertFailover = async (t: TestContext, victim: RedisClusterNode, signal: 'SIGKILL' | 'SIGSTOP') => {
    const via = cluster.nodes.find((node) => node !== victim && node.process.exitCode === null && node.process.signalCode === null)!;
    const victimId = await nodeId(victim);
    const replica = await eventually(async () => {
      const line = (await cluster.cli(via.port, 'cluster', 'nodes')).split('\n').find((entry) => entry.includes(`slave ${victimId}`));
      const found = cluster.nodes.find((node) => node.port === Number(/:(\d+)@/.exec(line ?? '')?.[1]));
      assert.ok(found, `a replica of ${victim.port}`);
      return found;
    });
    const owners = await Promise.all(cameras.map((camera) => masterOf(camera.slot, via)));
    const affected = cameras.filter((_, i) => owners[i] === victim);
    assert.ok(affected.length > 0, `master ${victim.port} serves a camera`);
    const marks = frameCounts();

    victim.process.kill(signal);
    const wentAt = Date.now();
    const promotedAt = await eventually(
      async () => {
        assert.ok(await isMaster(replica), 'replica promoted');
        return Date.now();
      },
      20_000,
      50,
    );
    t.diagnostic(`replica promoted ${promotedAt - wentAt} ms after ${signal}`);
    for (const { id } of affected) {
      for (const [i, viewer] of viewers.get(id)!.entries()) {
        // Nothing of that shard flows between the signal and the promotion: a frame received
        // after the promotion came through the new master.
        const next = await viewer.waitForFrame(
          (frame) => frame.receivedAt >= promotedAt && !frame.headers['x-no-signal'],
          'a live frame after the failover',
          marks.get(id)![i],
          20_000,
        );
        const lag = next.receivedAt - promotedAt;
        t.diagnostic(`${id} on gateway ${i}: live again ${lag} ms after the promotion`);
        assert.ok(lag <= 3000, `${id} live within 3 s of the promotion (${lag} ms)`);
      }
    }
    await assertRecovered(affected, marks, wentAt);
  };

  before(async () => {
    cluster = await spawnRedisCluster({ create: false });
    // Two cameras per shard, from ids whose slots fall in each shard's range.
    for (let i = 0; cameras.length < SHARD_RANGES.length * CAMERAS_PER_SHARD; i++) {
      const id = `cam${i}`;
      const slot = await slotOf(id);
      const shard = SHARD_RANGES.findIndex(([from, to]) => slot >= from && slot <= to);
      if (cameras.filter((camera) => camera.shard === shard).length < CAMERAS_PER_SHARD) cameras.push({ id, slot, shard });
    }
    const env = { REDIS_CLUSTER_NODES: cluster.seeds };
    const source = cameras.map(({ id }) => `${id}=pattern:160x120@${FPS}`).join(';');
    // Started before the cluster serves a slot: they must wait for it on their own.
    capture = await spawnCapture({ ...env, CAMERAS: source });
    for (let i = 0; i < 2; i++) gateways.push(await spawnGateway({ ...env, ...OPEN_GATEWAY }));
    readyBeforeCluster = await Promise.all(gateways.map(readyz));
    await cluster.create();
  });

  after(async () => {
    for (const viewer of [...viewers.values()].flat()) viewer.close();
    await Promise.all(gateways.map((gateway) => gateway.stop()));
    await capture?.stop();
    await cluster?.stop();
  });

  it('comes up by itself when the cluster is made after capture and gateways started', async () => {
    assert.deepEqual(readyBeforeCluster, [503, 503], 'gateways are not ready while the cluster serves no slot');
    await eventually(async () => assert.deepEqual(await Promise.all(gateways.map(readyz)), [200, 200]), 20_000);
    const listed = async (gateway: Service) =>
      ((await (await fetch(`${gateway.baseUrl}/api/cameras`)).json()) as Array<{ id: string }>).map(({ id }) => id);
    const ids = cameras.map(({ id }) => id);
    await eventually(async () => assert.deepEqual(await Promise.all(gateways.map(listed)), [ids, ids]), 5000);
    for (const { id } of cameras) {
      viewers.set(
        id,
        gateways.map((gateway) => new StreamViewer(`${gateway.baseUrl}/cameras/${id}/stream.mjpg`, { keepJpegs: false })),
      );
    }
    await Promise.all(
      [...viewers.values()]
        .flat()
        .map((viewer) => viewer.waitForFrame((frame) => !frame.headers['x-no-signal'], 'a live frame', 0, 20_000)),
    );
  });

  it('carries each camera through its own shard only, to every viewer at the full rate', async (t) => {
    const masters = await Promise.all(SHARD_RANGES.map(([from]) => masterOf(from, cluster.nodes[0]!)));
    assert.equal(new Set(masters).size, 3, 'three masters');
    const before = await Promise.all(masters.map(stats));
    const marks = frameCounts();
    await sleep(3000); // the measurement window
    const egress = (await Promise.all(masters.map(stats))).map((after, i) => after.clientEgress - before[i]!.clientEgress);
    const total = egress.reduce((a, b) => a + b, 0);
    t.diagnostic(`client egress per master over 3 s: ${egress.map((bytes) => `${(bytes / 1024).toFixed(0)} KiB`).join(', ')}`);
    // Two cameras of the same size per shard: a third of the frames each. A broadcast (PUBLISH)
    // or a single subscriber connection would put every frame on one node.
    for (const [i, bytes] of egress.entries())
      assert.ok(bytes > total * 0.2 && bytes < total * 0.47, `master ${i} carries its own cameras only (${egress.join(', ')})`);
    for (const node of cluster.nodes) {
      const info = await cluster.cli(node.port, 'cluster', 'info');
      assert.doesNotMatch(info, /cluster_stats_messages_publish_sent:[1-9]/, `node ${node.port} broadcast no PUBLISH`);
    }
    for (const [id, list] of viewers) {
      for (const [i, viewer] of list.entries()) {
        const fps = (viewer.frames.length - marks.get(id)![i]!) / 3;
        assert.ok(fps >= FPS * 0.8, `${id} on gateway ${i}: ${fps.toFixed(1)} fps`);
      }
    }
  });

  it("survives a master's death: its cameras are live within 3 s of the promotion, the others see no gap, no viewer is dropped", async (t) => {
    const victim = await masterOf(SHARD_RANGES[0][0], liveNode());
    await assertFailover(t, victim, 'SIGKILL');
  });

  it("survives a camera's slot moving to another master: live within 2 s, nothing else disturbed", async (t) => {
    const moving = cameras.find((camera) => camera.shard === 1)!;
    const via = liveNode();
    const source = await masterOf(moving.slot, via);
    const target = await masterOf(SHARD_RANGES[2][0], via);
    const [sourceId, targetId] = await Promise.all([nodeId(source), nodeId(target)]);
    await assertOnlyDarkens(t, 'while its slot moved', [moving], async () => {
      // What `redis-cli --cluster reshard` does for one slot.
      await cluster.cli(target.port, 'cluster', 'setslot', String(moving.slot), 'importing', sourceId);
      await cluster.cli(source.port, 'cluster', 'setslot', String(moving.slot), 'migrating', targetId);
      const keys = (await cluster.cli(source.port, 'cluster', 'getkeysinslot', String(moving.slot), '100')).split('\n').filter(Boolean);
      if (keys.length > 0)
        await cluster.cli(source.port, 'migrate', '127.0.0.1', String(target.port), '', '0', '5000', 'REPLACE', 'KEYS', ...keys);
      await cluster.cli(target.port, 'cluster', 'setslot', String(moving.slot), 'node', targetId);
      await cluster.cli(source.port, 'cluster', 'setslot', String(moving.slot), 'node', targetId);
      assert.equal(await masterOf(moving.slot, target), target);
    });
  });

  it('takes back the subscriber connections a shard cuts (as its pub/sub output buffer limit does): live within 2 s', async (t) => {
    const via = liveNode();
    const master = await masterOf(cameras.find((camera) => camera.shard === 2)!.slot, via);
    const owners = await Promise.all(cameras.map((camera) => masterOf(camera.slot, via)));
    const onThatMaster = cameras.filter((_, i) => owners[i] === master);
    await assertOnlyDarkens(t, 'after the cut', onThatMaster, async () => {
      const killed = Number((await cluster.cli(master.port, 'client', 'kill', 'type', 'pubsub')).trim());
      assert.ok(killed >= 2, `both gateways' subscriber connections cut (${killed})`);
    });
  });

  it('survives a master that stops answering without closing a connection (SIGSTOP): live within 3 s of the promotion', async (t) => {
    const victim = await masterOf(SHARD_RANGES[1][0], liveNode());
    try {
      await assertFailover(t, victim, 'SIGSTOP');
    } finally {
      victim.process.kill('SIGCONT');
    }
  });
});
