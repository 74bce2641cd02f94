import assert from 'node:assert/strict';
import type { ReceivedFrame, StreamViewer } from '@camrelay/clients';
import { epochOf } from '@camrelay/frame';
import { eventually } from './eventually.js';

/**
 * What every deployment form must give a capture fleet (docker-compose.yml, deploy/k8s,
 * `npm run stack`): time to hand its cameras over on SIGTERM before it is killed.
 */

/**
 * Seconds a stopping capture instance may need: it hands its cameras over to the others before
 * it exits, which takes up to ~10 s (renewed leases expire after ~1.5 s; a successor must open
 * each camera), plus a margin for closing the bus and exiting. Compose's default of 10 s and
 * Kubernetes' of 30 s are checked against it.
 */
export const CAPTURE_STOP_GRACE_SECONDS = 15;

/**
 * The cameras a capture instance holds, from its /metrics text: the gauge
 * `camrelay_capture_camera_held{camera="ID"}` is 1 for each (whatever other labels it carries).
 */
export function heldCameras(metrics: string): string[] {
  return [...metrics.matchAll(/^camrelay_capture_camera_held\{([^}]*)\} (\S+)$/gm)]
    .filter((match) => Number(match[2]) === 1)
    .map((match) => /(?:^|,)camera="([^"]*)"/.exec(match[1]!)?.[1] ?? '')
    .sort();
}

/** Where a viewer's X-Sequence went wrong: a live frame not above the one before, or any frame below it (a NO SIGNAL picture repeats the last number); undefined if nowhere. */
export function sequenceFault(frames: ReadonlyArray<{ sequence: number; headers: Readonly<Record<string, string>> }>): string | undefined {
  let lastLive: number | undefined;
  for (const [i, frame] of frames.entries()) {
    const live = frame.headers['x-no-signal'] === undefined;
    if (lastLive !== undefined && (live ? frame.sequence <= lastLive : frame.sequence < lastLive))
      return `frame ${i}${live ? '' : ' (NO SIGNAL)'}: X-Sequence ${frame.sequence} after ${lastLive}`;
    if (live) lastLive = frame.sequence;
  }
  return undefined;
}

/**
 * Waits until every camera is held by exactly one capture instance, as each instance's /metrics
 * says, and returns the instances with what they hold.
 */
export async function everyCameraHeldOnce<T extends { held: string[] }>(
  read: () => Promise<T[]>,
  cameras: readonly string[],
  describe: (captures: T[]) => string,
): Promise<T[]> {
  return eventually(
    async () => {
      const captures = await read();
      assert.deepEqual(
        captures.flatMap((capture) => capture.held).sort(),
        [...cameras].sort(),
        `every camera held by one capture (${describe(captures)})`,
      );
      return captures;
    },
    20_000,
    250,
  );
}

/**
 * A viewer's next live frame from index `from` on, of an epoch above `above` (a camera that
 * moved to another instance: its new holder's frames), or any live frame when `above` is -1.
 */
export function liveFrameOf(viewer: StreamViewer, from: number, above: number): Promise<ReceivedFrame> {
  return viewer.waitForFrame(
    (frame) => frame.headers['x-no-signal'] === undefined && epochOf(frame.sequence) > above,
    above === -1 ? 'a live frame' : `a live frame of an epoch above ${above}`,
    from,
    15_000,
  );
}
