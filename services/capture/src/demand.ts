import type { Logger } from 'pino';
import type { FrameBus } from '@camrelay/bus';
import type { Camera } from './camera.js';

export interface DemandOptions {
  /** A camera nobody has watched for this long is closed. */
  readonly idleAfterMs: number;
  /** How often the gateways' claims are read. */
  readonly lookEveryMs: number;
  readonly log: Logger;
}

export interface FollowedDemand {
  stop(): void;
}

/**
 * Opens a camera while any gateway claims it on the bus (a viewer there, of a stream or a
 * snapshot), and closes it once nobody has for idleAfterMs. Cameras with the `always` option
 * are left open. Every camera counts as just watched at start: each opens once, so that its
 * size is known and a source that does not open is in the log at once, then sleeps unless
 * someone watches.
 *
 * While the claims cannot be read (the bus is down) nothing is opened or closed on their
 * account; the idle time still runs, as no gateway can reach the frames either.
 */
export function followDemand(cameras: readonly Camera[], bus: FrameBus, options: DemandOptions): FollowedDemand {
  const followed = cameras.filter((camera) => !camera.alwaysOn);
  const lastWatchedAt = new Map(followed.map((camera) => [camera, performance.now()]));
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
        const watched = await bus.watchedCameras().catch(() => null);
        if (watched) apply(watched, performance.now());
      } while (again);
    } finally {
      looking = false;
    }
  };

  const apply = (watched: ReadonlySet<string>, now: number) => {
    for (const camera of followed) {
      if (watched.has(camera.id)) {
        lastWatchedAt.set(camera, now);
        if (camera.sleeping) {
          options.log.info({ camera: camera.id }, 'camera waking: a viewer asked for it');
          camera.wake();
        }
      } else if (!camera.sleeping && now - lastWatchedAt.get(camera)! >= options.idleAfterMs) {
        options.log.info(
          { camera: camera.id, idleAfterMs: options.idleAfterMs },
          'camera closing: nobody watched it for CAPTURE_IDLE_AFTER',
        );
        camera.sleep();
      }
    }
  };

  if (followed.length === 0) return { stop: () => undefined };
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
