/**
 * Every bus channel and key name is built here and nowhere else.
 *
 * The camera id sits in a hash tag ({id}) so that in a Redis Cluster a camera's channel and
 * its latest-frame key share a slot: moving to sharded pub/sub is then a change of bus, not
 * of names.
 */

const PREFIX = 'camrelay';

/** Letters, digits, '_' and '-', 1 to 64 characters, starting with a letter or digit. */
export const CAMERA_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export function isCameraId(value: string): boolean {
  return CAMERA_ID_PATTERN.test(value);
}

export function framesChannel(cameraId: string): string {
  return `${PREFIX}:{${cameraId}}:frames`;
}

export function latestFrameKey(cameraId: string): string {
  return `${PREFIX}:{${cameraId}}:latest`;
}

/** A hash: camera id → JSON CameraInfo, written by capture, read by gateways. */
export function cameraDirectoryKey(): string {
  return `${PREFIX}:cameras`;
}

/**
 * A sorted set: one member per gateway watching a camera (`CAMERA HOLDER`), scored by when that
 * claim expires (Redis server time, ms). Capture keeps a camera open while a claim is live.
 * One key for every camera, so that capture learns what is watched in one command.
 */
export function watchedCamerasKey(): string {
  return `${PREFIX}:watched`;
}

/** A secret every gateway shares (the URL signing key), created by the first to ask. */
export function sharedSecretKey(name: string): string {
  return `camrelay:secret:${name}`;
}
