/**
 * `npm run stack -- --captures 2`: a capture fleet from local processes, as docker compose runs
 * one in containers (test/compose.test.ts does the same there). Each capture has a health port
 * of its own, in the stack's summary; the two share the cameras (each held by one, by their
 * camrelay_capture_camera_held gauges); a SIGKILLed capture's cameras come back through HAProxy
 * within 3 s, X-Sequence still rising and no stream ended; and the stack stops them all.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPEN_GATEWAY, StreamViewer, startStack } from '@camrelay/clients';
import type { RunningStack } from '@camrelay/clients';
import { epochOf } from '@camrelay/frame';
import { freePort } from '@camrelay/stack';
import { everyCameraHeldOnce, heldCameras, liveFrameOf, sequenceFault } from './harness/capture-fleet.js';

const CAPTURES = 2;
/** Small and slow: three of them cost little, and the fleet has cameras to share. */
const CAMERAS = ['a', 'b', 'c'];

describe('npm run stack -- --captures 2: a capture fleet behind HAProxy', () => {
  let stack: RunningStack | undefined;
  let lb = '';

  /** The cameras each capture holds, from its own /metrics. */
  const camerasPerCapture = (captures = stack!.captures) =>
    Promise.all(captures.map(async (capture) => ({ ...capture, held: heldCameras(await (await fetch(capture.metricsUrl)).text()) })));
  const holdings = (captures: Array<{ name: string; held: string[] }>) =>
    captures.map((capture) => `${capture.name}: ${capture.held.join(', ') || 'none'}`).join('; ');

  before(async () => {
    const env = { PORT: String(await freePort()), CAMERAS: CAMERAS.map((id) => `${id}=pattern:160x120@10`).join(';'), ...OPEN_GATEWAY };
    stack = await startStack(1, env, CAPTURES);
    lb = stack.url.replace('localhost', '127.0.0.1');
  });

  after(async () => {
    await stack?.stop('SIGINT');
  });

  it('lists each capture with a health port of its own, each answering /metrics', async () => {
    const { captures } = stack!;
    assert.equal(captures.length, CAPTURES);
    assert.equal(new Set(captures.map((capture) => capture.pid)).size, CAPTURES, 'a process each');
    assert.equal(new Set(captures.map((capture) => new URL(capture.metricsUrl).port)).size, CAPTURES, 'a port each');
    for (const capture of captures) assert.equal((await fetch(capture.metricsUrl)).status, 200, capture.name);
  });

  it('a killed capture’s cameras come back through HAProxy within 3 s', async (t) => {
    const watching = CAMERAS.map((id) => new StreamViewer(`${lb}/cameras/${id}/stream.mjpg`, { keepJpegs: false }));
    try {
      await Promise.all(
        watching.map((viewer) => viewer.waitForFrame((frame) => frame.headers['x-no-signal'] === undefined, 'a live frame', 0, 20_000)),
      );
      const before = await everyCameraHeldOnce(camerasPerCapture, CAMERAS, holdings);
      const [victim] = [...before].sort((a, b) => b.held.length - a.held.length);
      const marks = watching.map((viewer) => viewer.frames.length);
      // A moved camera is back when a frame of its new holder's higher epoch arrives; the others
      // need only go on.
      const epochs = watching.map((viewer, i) => (victim!.held.includes(CAMERAS[i]!) ? epochOf(viewer.liveFrames.at(-1)!.sequence) : -1));
      const killedAt = Date.now();
      process.kill(victim!.pid, 'SIGKILL');
      const back = await Promise.all(
        watching.map(async (viewer, i) => (await liveFrameOf(viewer, marks[i]!, epochs[i]!)).receivedAt - killedAt),
      );
      // A second of each stream after the failover, for the sequence check.
      await Promise.all(watching.map((viewer) => viewer.waitForFrames(viewer.frames.length + 10)));
      const after = await camerasPerCapture(stack!.captures.filter((capture) => capture.pid !== victim!.pid));
      t.diagnostic(
        `killed ${victim!.name} holding ${victim!.held.join(', ')} (${holdings(before)}); live again after ${CAMERAS.map((id, i) => `${id} ${back[i]} ms`).join(', ')}; then ${holdings(after)}`,
      );
      assert.deepEqual(
        CAMERAS.filter((_, i) => watching[i]!.isClosed),
        [],
        'no stream ended',
      );
      for (const [i, ms] of back.entries()) assert.ok(ms < 3000, `${CAMERAS[i]}: live within 3 s of the kill (${ms} ms)`);
      for (const [i, viewer] of watching.entries()) assert.equal(sequenceFault(viewer.frames), undefined, CAMERAS[i]);
      assert.deepEqual(after.flatMap((capture) => capture.held).sort(), [...CAMERAS].sort(), 'the survivor holds every camera');
    } finally {
      for (const viewer of watching) viewer.close();
    }
  });

  it('stops every capture with the stack', async () => {
    const code = await stack!.stop('SIGINT');
    const captures = stack!.captures;
    stack = undefined;
    assert.equal(code, 0);
    for (const capture of captures) assert.throws(() => process.kill(capture.pid, 0), { code: 'ESRCH' }, `${capture.name} is gone`);
  });
});
