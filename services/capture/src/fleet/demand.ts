import type { Logger } from 'pino';
import type { FrameBus, WatchedFeeds } from '@camrelay/bus';
import { feedVariant, parseFeedId } from '@camrelay/frame';
import type { HeldCamera } from './held-camera.js';

/** What demand needs of a camera. */
export type DemandCamera = Pick<HeldCamera, 'id' | 'alwaysOn' | 'sleeping' | 'isOpening' | 'wake' | 'sleep' | 'watchSizes'>;

/** A camera that has not delivered its first frame this long after waking is idle from then on. */
const OPENING_GRACE_MS = 15_000;

export interface DemandOptions {
  /** A camera nobody has watched for this long is closed. */
  readonly idleAfterMs: number;
  /** How often the gateways' claims are read. */
  readonly lookEveryMs: number;
  readonly log: Logger;
}

const NONE: ReadonlySet<string> = new Set();

export interface FollowedDemand {
  stop(): void;
}

/**
 * Opens a camera while any gateway claims one of its feeds on the bus (a viewer there, of a
 * stream or a snapshot, at any size), and closes it once nobody has for idleAfterMs; tells
 * each camera which of its smaller sizes and H.264 feeds are watched, to encode those only. Cameras with the `always` option
 * are left open. Every camera counts as just watched when this instance starts holding it:
 * each opens once, so that its size is known and a source that does not open is in the log at
 * once, then sleeps unless someone watches. The cameras are those this instance holds now
 * (they change as the fleet shares them out).
 *
 * While the claims cannot be read (the bus is down) nothing is opened or closed: the cameras
 * open then stay open, so that frames flow again the moment the bus is back.
 */
export function followDemand(held: () => readonly DemandCamera[], bus: FrameBus, options: DemandOptions): FollowedDemand {
  /** Since when nobody has watched each camera, as first seen (so never early); absent while watched. */
  const unwatchedSince = new WeakMap<DemandCamera, number>();
  let looking = false;
  let again = false;

  const look = async () => {
    // One look at a time; a request during a look (a new claim in this process) looks again after it.
    if (looking) {
      again = true;
      return;
    }
    looking = true;
    try {
      do {
        again = false;
        const cameras = held();
        const watched = await bus.watchedFeeds(cameras.map((camera) => camera.id)).catch(() => null);
        if (watched) apply(cameras, watched, performance.now());
        else blind(cameras, performance.now());
      } while (again);
    } finally {
      looking = false;
    }
  };

  // A Redis restarted without persistence has lost every claim until the gateways renew
  // theirs (within a third of a claim's time): the idle count starts again after an outage.
  const blind = (unknown: readonly DemandCamera[], now: number) => {
    for (const camera of unknown) if (unwatchedSince.has(camera)) unwatchedSince.set(camera, now);
  };

  const apply = (cameras: readonly DemandCamera[], { feeds, unreadable }: WatchedFeeds, now: number) => {
    const watched = new Set<string>();
    const sizes = new Map<string, Set<string>>();
    for (const feed of feeds) {
      const { cameraId } = parseFeedId(feed);
      const variant = feedVariant(feed);
      watched.add(cameraId);
      if (variant !== undefined) sizes.set(cameraId, (sizes.get(cameraId) ?? new Set()).add(variant));
    }
    // A camera whose claims live on a shard that is down is left as it is, as for a whole outage.
    const unknown = cameras.filter((camera) => unreadable.has(camera.id));
    blind(unknown, now);
    for (const camera of cameras) if (!unreadable.has(camera.id)) camera.watchSizes(sizes.get(camera.id) ?? NONE);
    for (const camera of cameras) {
      if (camera.alwaysOn) continue;
      if (unreadable.has(camera.id)) continue;
      if (watched.has(camera.id) || camera.isOpening(OPENING_GRACE_MS)) {
        unwatchedSince.delete(camera);
        if (camera.sleeping) {
          options.log.info({ camera: camera.id }, 'camera waking: a viewer asked for it');
          camera.wake();
        }
        continue;
      }
      const since = unwatchedSince.get(camera) ?? now;
      unwatchedSince.set(camera, since);
      if (!camera.sleeping && now - since >= options.idleAfterMs) {
        options.log.info(
          { camera: camera.id, idleAfterMs: options.idleAfterMs },
          'camera closing: nobody watched it for CAPTURE_IDLE_AFTER',
        );
        camera.sleep();
      }
    }
  };

  const timer = setInterval(() => void look(), options.lookEveryMs);
  timer.unref();
  const lookNow = () => void look();
  bus.on('watched', lookNow);
  return {
    stop() {
      clearInterval(timer);
      bus.off('watched', lookNow);
    },
  };
}
