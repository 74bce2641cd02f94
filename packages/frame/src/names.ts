/**
 * Camera ids, frame sizes and feed ids. A feed is what a viewer watches: a camera at its own
 * size (feed id `CAMERA`) or at one of its smaller sizes (`CAMERA@WxH`). The Redis names built
 * from them are @camrelay/bus's (packages/bus/src/names.ts).
 */

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
