/**
 * Camera ids, frame sizes and feed ids. A feed is what a viewer watches: a camera at its own
 * size (feed id `CAMERA`) or at one of its smaller sizes (`CAMERA@WxH`), in motion JPEG; or the
 * same in H.264 (`CAMERA+h264`, `CAMERA@WxH+h264`), the low-bandwidth tier. The Redis names
 * built from them are @camrelay/bus's (packages/bus/src/names.ts).
 */

/** Letters, digits, '_' and '-', 1 to 64 characters, starting with a letter or digit. */
export const CAMERA_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export function isCameraId(value: string): boolean {
  return CAMERA_ID_PATTERN.test(value);
}

/** `WIDTHxHEIGHT`, as in `?size=` and CAMERAS' `sizes=`. */
export const FRAME_SIZE_PATTERN = /^[1-9]\d{0,4}x[1-9]\d{0,4}$/;

/** How a feed's pictures travel: motion JPEG (every frame a JPEG) or H.264 in fragmented MP4. */
export type Tier = 'mjpeg' | 'h264';

/** What an H.264 feed's id ends with. */
export const H264_SUFFIX = '+h264';

/** A camera's feed: at its own size when `size` is undefined; motion JPEG unless `tier` says otherwise. */
export function feedId(cameraId: string, size?: string, tier: Tier = 'mjpeg'): string {
  const sized = size === undefined ? cameraId : `${cameraId}@${size}`;
  return tier === 'h264' ? sized + H264_SUFFIX : sized;
}

/** The camera, size and tier of a feed id (camera ids hold neither '@' nor '+'). */
export function parseFeedId(feed: string): { readonly cameraId: string; readonly size: string | undefined; readonly tier: Tier } {
  const tier: Tier = feed.endsWith(H264_SUFFIX) ? 'h264' : 'mjpeg';
  const sized = tier === 'h264' ? feed.slice(0, -H264_SUFFIX.length) : feed;
  const at = sized.indexOf('@');
  return at === -1 ? { cameraId: sized, size: undefined, tier } : { cameraId: sized.slice(0, at), size: sized.slice(at + 1), tier };
}

/**
 * A feed as its camera is told to make it (capture's demand, a worker's 'sizes' message): a
 * smaller JPEG size `WxH`, or an H.264 one, `+h264` at the camera's own size or `WxH+h264`.
 * Undefined for the camera's own JPEGs, which it always makes.
 */
export function feedVariant(feed: string): string | undefined {
  const { size, tier } = parseFeedId(feed);
  if (tier === 'mjpeg') return size;
  return (size ?? '') + H264_SUFFIX;
}
