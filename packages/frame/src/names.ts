/**
 * Every bus channel and key name is built here and nowhere else.
 *
 * The camera id sits in a hash tag ({id}) so that in a Redis Cluster a camera's channel and
 * its latest-frame key share a slot: moving to sharded pub/sub is then a change of bus, not
 * of names.
 *
 * A feed is what a viewer watches: a camera at its own size (feed id `CAMERA`) or at one of
 * its smaller sizes (`CAMERA@WxH`), each with its own channel and latest frame, in the
 * camera's slot.
 */

const PREFIX = 'camrelay';

/** Letters, digits, '_' and '-', 1 to 64 characters, starting with a letter or digit. */
export const CAMERA_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export function isCameraId(value: string): boolean {
  return CAMERA_ID_PATTERN.test(value);
}

/** `WIDTHxHEIGHT`, as in `?size=` and CAMERAS' `sizes=`. */
export const FRAME_SIZE_PATTERN = /^[1-9]\d{0,4}x[1-9]\d{0,4}$/;

/** A camera's feed: at its own size when `size` is undefined. */
export function feedId(cameraId: string, size?: string): string {
  return size === undefined ? cameraId : `${cameraId}@${size}`;
}

/** The camera and size of a feed id (camera ids hold no '@'). */
export function parseFeedId(feed: string): { readonly cameraId: string; readonly size: string | undefined } {
  const at = feed.indexOf('@');
  return at === -1 ? { cameraId: feed, size: undefined } : { cameraId: feed.slice(0, at), size: feed.slice(at + 1) };
}

export function framesChannel(feed: string): string {
  const { cameraId, size } = parseFeedId(feed);
  return `${PREFIX}:{${cameraId}}:frames${size === undefined ? '' : `:${size}`}`;
}

export function latestFrameKey(feed: string): string {
  const { cameraId, size } = parseFeedId(feed);
  return `${PREFIX}:{${cameraId}}:latest${size === undefined ? '' : `:${size}`}`;
}

/**
 * The directory's index, for listing only: a sorted set of camera ids scored by when their
 * entry expires (Redis server time, ms). Nothing a stream or snapshot needs is here: in a
 * Redis Cluster the shard holding it may be down and only /api/cameras notices.
 */
export function cameraDirectoryKey(): string {
  return `${PREFIX}:cameras`;
}

/** A camera's directory entry (JSON CameraInfo, expiring), in the camera's own slot. */
export function cameraInfoKey(cameraId: string): string {
  return `${PREFIX}:{${cameraId}}:info`;
}

/**
 * A sorted set per camera, in its own slot: one member per gateway watching one of its feeds
 * (`FEED HOLDER`), scored by when that claim expires (Redis server time, ms). Capture keeps a
 * camera open while a claim on one of its feeds is live, and encodes a smaller size while it is
 * claimed. Per camera, so that a Redis Cluster shard that is down stops only its own cameras.
 */
export function cameraClaimsKey(cameraId: string): string {
  return `${PREFIX}:{${cameraId}}:watched`;
}

/** A secret every gateway shares (the URL signing key), created by the first to ask. */
export function sharedSecretKey(name: string): string {
  return `camrelay:secret:${name}`;
}

/**
 * A camera's lease, in its own slot: which capture instance holds the camera, until when, under
 * which fencing epoch (a hash; see @camrelay/bus's redis-leases). Kept for good: its epoch is
 * the floor of the next one.
 */
export function cameraLeaseKey(cameraId: string): string {
  return `${PREFIX}:{${cameraId}}:lease`;
}

/** The live members of a capture fleet (a sorted set scored by expiry, Redis server time, ms). */
export function captureFleetKey(fleet: string): string {
  return `${PREFIX}:fleet:${fleet}`;
}
