/**
 * Every Redis key and channel name the buses use, built here from one prefix and nowhere else:
 * deploy/redis/users.acl (and the compose and Kubernetes ACLs, which run it) grants exactly
 * these patterns.
 *
 * A camera's names carry its id in a hash tag (`{id}`), so that in a Redis Cluster its channels
 * and keys share one slot: what its viewers need lives on one node, and moving to sharded
 * pub/sub was a change of bus, not of names. A feed (`CAMERA`, or `CAMERA@WxH` for one of its
 * smaller sizes, and either in H.264 with `+h264`; see @camrelay/frame's feedId) has its own
 * channel and latest frame (in H.264, its current group of pictures), in its camera's slot.
 */
import { parseFeedId } from '@camrelay/frame';

const PREFIX = 'camrelay';

/** `camrelay:{CAMERA}:NAME`: in the camera's own slot. */
function ofCamera(cameraId: string, name: string): string {
  return `${PREFIX}:{${cameraId}}:${name}`;
}

/**
 * `camrelay:{CAMERA}:NAME` for a camera at its own size, `camrelay:{CAMERA}:NAME:WxH` for a
 * smaller one; `NAME.h264` in H.264.
 */
function ofFeed(feed: string, name: string): string {
  const { cameraId, size, tier } = parseFeedId(feed);
  const named = tier === 'h264' ? `${name}.h264` : name;
  return ofCamera(cameraId, size === undefined ? named : `${named}:${size}`);
}

export function framesChannel(feed: string): string {
  return ofFeed(feed, 'frames');
}

/** A motion JPEG feed's latest envelope (a string); an H.264 feed's current group of pictures (a list). */
export function latestFrameKey(feed: string): string {
  return ofFeed(feed, 'latest');
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
  return ofCamera(cameraId, 'info');
}

/**
 * A sorted set per camera, in its own slot: one member per gateway watching one of its feeds
 * (`FEED HOLDER`), scored by when that claim expires (Redis server time, ms). Capture keeps a
 * camera open while a claim on one of its feeds is live, and encodes a smaller size while it is
 * claimed. Per camera, so that a Redis Cluster shard that is down stops only its own cameras.
 */
export function cameraClaimsKey(cameraId: string): string {
  return ofCamera(cameraId, 'watched');
}

/** A secret every gateway shares (the URL signing key), created by the first to ask. */
export function sharedSecretKey(name: string): string {
  return `${PREFIX}:secret:${name}`;
}

/**
 * A camera's lease, in its own slot: which capture instance holds the camera, until when, under
 * which fencing epoch (a hash; see redis-leases.ts). Kept for good: its epoch is the floor of
 * the next one.
 */
export function cameraLeaseKey(cameraId: string): string {
  return ofCamera(cameraId, 'lease');
}

/** The live members of a capture fleet (a sorted set scored by expiry, Redis server time, ms). */
export function captureFleetKey(fleet: string): string {
  return `${PREFIX}:fleet:${fleet}`;
}
