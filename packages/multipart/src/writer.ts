/**
 * Writes a multipart/x-mixed-replace (motion JPEG) stream.
 *
 * Each part is built once per frame and the same Buffer goes to every viewer. A part ends
 * with the next part's delimiter: Chrome draws a part only when it sees the following
 * boundary, so a delimiter sent with the next frame would cost a whole frame of latency.
 */

export const STREAM_BOUNDARY = 'camrelayframe';

export function streamContentType(boundary: string = STREAM_BOUNDARY): string {
  return `multipart/x-mixed-replace; boundary=${boundary}`;
}

/** The bytes that open the body, before the first part's headers. */
export function streamPreamble(boundary: string = STREAM_BOUNDARY): Buffer {
  return Buffer.from(`--${boundary}\r\n`, 'latin1');
}

export interface PartMeta {
  /** Unix time in milliseconds; sent as seconds with a fraction in X-Timestamp. */
  readonly capturedAt: number;
  readonly sequence: number;
  /** Marks a stand-in picture sent while the camera sends nothing (X-No-Signal: 1). */
  readonly noSignal?: boolean;
}

/** One complete part: headers, JPEG, and the delimiter that opens the next part. */
export function encodePart(jpeg: Uint8Array, meta: PartMeta, boundary: string = STREAM_BOUNDARY): Buffer {
  const head =
    'Content-Type: image/jpeg\r\n' +
    `Content-Length: ${jpeg.length}\r\n` +
    `X-Timestamp: ${(meta.capturedAt / 1000).toFixed(6)}\r\n` +
    `X-Sequence: ${meta.sequence}\r\n` +
    (meta.noSignal ? 'X-No-Signal: 1\r\n\r\n' : '\r\n');
  const tail = `\r\n--${boundary}\r\n`;
  const headBytes = Buffer.byteLength(head, 'latin1');
  const tailBytes = Buffer.byteLength(tail, 'latin1');
  const part = Buffer.allocUnsafe(headBytes + jpeg.length + tailBytes);
  part.write(head, 0, 'latin1');
  part.set(jpeg, headBytes);
  part.write(tail, headBytes + jpeg.length, 'latin1');
  return part;
}
