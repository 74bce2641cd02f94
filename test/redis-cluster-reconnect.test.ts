/**
 * A whole Redis Cluster unreachable, then back: every node killed, then started again on its
 * ports with its nodes-PORT.conf (the same cluster and slots; its data gone, as nothing is
 * persisted), so that the gateway's cluster client drops every connection and connects anew.
 * A viewer who asked, during the outage, for a camera nobody watched on that gateway keeps its
 * connection (NO SIGNAL meanwhile) and gets the live picture once the cluster is back: the
 * cluster bus subscribes, on the client's 'ready', the channels asked for while it was down.
 * Those are the bus's own to subscribe; a viewer from before the outage, whose channel the
 * client subscribes again by itself, streams again too.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { OPEN_GATEWAY, StreamViewer } from '@camrelay/clients';
import type { ReceivedFrame } from '@camrelay/clients';
import type { RedisCluster } from '@camrelay/stack';
import { eventually } from './harness/eventually.js';
import { startRelay } from './harness/relay.js';
import type { Relay } from './harness/relay.js';

const FPS = 10;
/** Watched before the outage, on a channel the cluster client was given then. */
const WATCHED = 'before';
/** Asked for only while the cluster is down. */
const ASKED_DURING = 'during';
/**
 * How often the test may miss the moment it needs (see attemptViewerDuringOutage) before it
 * counts as failed: each miss costs a cluster restart.
 */
const ATTEMPTS = 8;

const isLive = (frame: ReceivedFrame) => frame.headers['x-no-signal'] === undefined;

describe('on a Redis Cluster that goes down as a whole and comes back', () => {
  let relay: Relay;
  let cluster: RedisCluster;
  const viewers: StreamViewer[] = [];

  const streamUrl = (camera: string) => `${relay.gateway.baseUrl}/cameras/${camera}/stream.mjpg`;
  const readyz = async () => (await fetch(`${relay.gateway.baseUrl}/readyz`)).status;
  const head = async (camera: string) => (await fetch(streamUrl(camera), { method: 'HEAD' })).status;
  /** Every node killed at once: the gateway's cluster client loses every connection (restart awaits their exit). */
  const killEveryNode = () => {
    for (const node of cluster.nodes) node.process.kill('SIGKILL');
  };
  /** Every node started again on its ports, with its nodes-PORT.conf. */
  const restartEveryNode = () => Promise.all([...cluster.nodes].map((node) => cluster.restart(node)));
  /** The relay is whole again: the gateway ready, and capture's directory entry for the camera back (the data went with the nodes). */
  const untilServing = async (camera: string) => {
    await eventually(async () => assert.equal(await readyz(), 200), 60_000, 200);
    await eventually(async () => assert.equal(await head(camera), 200), 30_000, 200);
  };

  /**
   * A stream of a camera nobody watches there, asked for while the gateway's cluster client is
   * down. A gateway reads a camera's directory entry before subscribing and can read none while
   * the cluster is down; it shares a read of one camera begun within the last 250 ms, as viewers
   * who arrive together do. So: a HEAD of the stream reads the entry (and subscribes nothing),
   * every node is killed, and once /readyz says the bus is down the stream is asked for, answered
   * from that read, and subscribed while the cluster is unreachable. A machine slow enough to
   * take more than 250 ms for that gets a 503: undefined, and the cluster is started again.
   */
  const attemptViewerDuringOutage = async (t: TestContext): Promise<StreamViewer | undefined> => {
    assert.equal(await head(ASKED_DURING), 200);
    const readAt = Date.now();
    killEveryNode();
    await eventually(async () => assert.equal(await readyz(), 503), 10_000, 5);
    t.diagnostic(`stream asked for ${Date.now() - readAt} ms after the HEAD was answered`);
    const viewer = new StreamViewer(streamUrl(ASKED_DURING), { keepJpegs: false });
    viewers.push(viewer);
    const status = await eventually(
      () => {
        assert.ok(viewer.response, 'the gateway answered');
        return viewer.response.statusCode;
      },
      10_000,
      5,
    );
    if (status === 200) return viewer;
    viewer.close();
    return undefined;
  };

  /** attemptViewerDuringOutage until it gets a stream (the cluster left down), ATTEMPTS times at most. */
  const viewerDuringOutage = async (t: TestContext): Promise<StreamViewer> => {
    for (let attempt = 1; ; attempt++) {
      const viewer = await attemptViewerDuringOutage(t);
      if (viewer) {
        t.diagnostic(`stream asked for and answered 200 while every node was down (attempt ${attempt})`);
        return viewer;
      }
      t.diagnostic(`attempt ${attempt}: the gateway's shared read had expired (503); the cluster is started again`);
      assert.ok(attempt < ATTEMPTS, `no stream could be asked for during the outage in ${ATTEMPTS} attempts`);
      await restartEveryNode();
      await untilServing(ASKED_DURING);
    }
  };

  before(async () => {
    relay = await startRelay({
      cameras: [WATCHED, ASKED_DURING].map((id) => `${id}=pattern:160x120@${FPS},always`).join(';'),
      clusterMasters: 3,
      gatewayEnv: OPEN_GATEWAY,
    });
    cluster = relay.cluster!;
  });

  after(async () => {
    for (const viewer of viewers) viewer.close();
    await relay?.stop();
  });

  it('streams, once the cluster is back, to a viewer who asked for an unwatched camera while it was down, on the same connection', async (t) => {
    const watching = new StreamViewer(streamUrl(WATCHED), { keepJpegs: false });
    viewers.push(watching);
    await watching.waitForFrame(isLive, 'a live frame before the outage', 0, 20_000);

    const viewer = await viewerDuringOutage(t);
    // The viewer is served during the outage: the NO SIGNAL picture, nothing live.
    await viewer.waitForFrame((frame) => !isLive(frame), 'the NO SIGNAL picture during the outage', 0, 20_000);
    assert.equal(viewer.liveFrames.length, 0, 'nothing live while every node is down');
    assert.equal(await readyz(), 503, 'the cluster is still down');

    const restartedAt = Date.now();
    const [from, watchedFrom] = [viewer.frames.length, watching.frames.length];
    await restartEveryNode();
    const first = await viewer.waitForFrame(isLive, 'live frame once the cluster is back', from, 60_000);
    t.diagnostic(`the camera asked for during the outage live ${first.receivedAt - restartedAt} ms after the nodes were started again`);
    const next = viewer.frames.indexOf(first) + 1;
    await viewer.waitForFrame(
      () => viewer.frames.slice(next).filter(isLive).length >= 2 * FPS,
      `${2 * FPS} more live frames`,
      next,
      20_000,
    );
    const live = viewer.frames.slice(next - 1).filter(isLive);
    for (let i = 1; i < live.length; i++) assert.ok(live[i]!.sequence > live[i - 1]!.sequence, 'X-Sequence rises');
    assert.equal(viewer.isClosed, false, 'the viewer kept the connection it opened during the outage');

    await watching.waitForFrame(isLive, 'live frame after the outage for the viewer from before it', watchedFrom, 60_000);
    assert.equal(watching.isClosed, false, 'the viewer from before the outage kept its connection');
    await eventually(async () => assert.equal(await readyz(), 200), 30_000, 200);
  });
});
