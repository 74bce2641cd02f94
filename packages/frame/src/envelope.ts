/**
 * The frame envelope: how one captured JPEG travels on the bus.
 *
 * A fixed 24-byte binary header followed by the JPEG bytes, so a gateway can read the
 * metadata without parsing or copying the image (no base64, no JSON around the image).
 *
 *   offset  size  field
 *   0       2     magic "CR"
 *   2       1     version (1)
 *   3       1     reserved (0)
 *   4       8     sequence (uint64 BE; the capture's frame number, +1 per captured frame)
 *   12      8     capturedAt (float64 BE, milliseconds since the Unix epoch)
 *   20      2     width (uint16 BE)
 *   22      2     height (uint16 BE)
 *   24      n     JPEG (starts FF D8, ends FF D9)
 */
import { CamrelayError } from '@camrelay/errors';

export const ENVELOPE_HEADER_BYTES = 24;

/**
 * The largest JPEG a frame may carry unless MAX_FRAME_BYTES says otherwise, for capture (which
 * drops larger ones) and gateways (which drop larger envelopes unread). 1080p at quality 95 is
 * 0.5-1.5 MB, and noise takes it to about 3 MB. The bound protects a gateway's one Redis
 * subscriber connection: Redis cuts it when its output buffer passes the pub/sub limit.
 */
export const DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024;
const MAGIC_0 = 0x43; // 'C'
const MAGIC_1 = 0x52; // 'R'
const VERSION = 1;

export interface Frame {
  /** The capture's frame number, rising by one per captured frame. */
  readonly sequence: number;
  /** Capture time, milliseconds since the Unix epoch (with a fraction). */
  readonly capturedAt: number;
  readonly width: number;
  readonly height: number;
  /** The encoded picture; a view into the envelope when decoded, never a copy. */
  readonly jpeg: Buffer;
}

export type EnvelopeErrorCode =
  'bad_sequence' | 'bad_timestamp' | 'bad_size' | 'not_jpeg' | 'too_short' | 'bad_magic' | 'unsupported_version' | 'bad_segment';

/** A frame that cannot be put in an envelope, or bytes that are not one. */
export class EnvelopeError extends CamrelayError<EnvelopeErrorCode> {}

export function isJpeg(bytes: Uint8Array): boolean {
  const n = bytes.length;
  return n >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[n - 2] === 0xff && bytes[n - 1] === 0xd9;
}

export function encodeEnvelope(frame: Frame): Buffer {
  const { sequence, capturedAt, width, height, jpeg } = frame;
  if (!Number.isSafeInteger(sequence) || sequence < 0)
    throw new EnvelopeError('bad_sequence', `sequence must be a non-negative safe integer, got ${sequence}`);
  if (!Number.isFinite(capturedAt)) throw new EnvelopeError('bad_timestamp', `capturedAt must be finite, got ${capturedAt}`);
  if (!isDimension(width) || !isDimension(height))
    throw new EnvelopeError('bad_size', `width and height must be 1..65535, got ${width}x${height}`);
  if (!isJpeg(jpeg)) throw new EnvelopeError('not_jpeg', 'payload is not a complete JPEG (FF D8 … FF D9)');

  const out = Buffer.allocUnsafe(ENVELOPE_HEADER_BYTES + jpeg.length);
  out[0] = MAGIC_0;
  out[1] = MAGIC_1;
  out[2] = VERSION;
  out[3] = 0;
  out.writeBigUInt64BE(BigInt(sequence), 4);
  out.writeDoubleBE(capturedAt, 12);
  out.writeUInt16BE(width, 20);
  out.writeUInt16BE(height, 22);
  out.set(jpeg, ENVELOPE_HEADER_BYTES);
  return out;
}

/** Throws EnvelopeError on anything that is not a well-formed envelope. */
export function decodeEnvelope(message: Buffer): Frame {
  if (message.length < ENVELOPE_HEADER_BYTES + 4) throw new EnvelopeError('too_short', `message too short (${message.length} bytes)`);
  if (message[0] !== MAGIC_0 || message[1] !== MAGIC_1) throw new EnvelopeError('bad_magic', 'bad magic');
  if (message[2] !== VERSION) throw new EnvelopeError('unsupported_version', `unsupported envelope version ${message[2]}`);
  const sequence = Number(message.readBigUInt64BE(4));
  if (!Number.isSafeInteger(sequence)) throw new EnvelopeError('bad_sequence', 'sequence out of range');
  const capturedAt = message.readDoubleBE(12);
  if (!Number.isFinite(capturedAt)) throw new EnvelopeError('bad_timestamp', 'capture time is not finite');
  const width = message.readUInt16BE(20);
  const height = message.readUInt16BE(22);
  if (width === 0 || height === 0) throw new EnvelopeError('bad_size', 'zero width or height');
  const jpeg = message.subarray(ENVELOPE_HEADER_BYTES);
  if (!isJpeg(jpeg)) throw new EnvelopeError('not_jpeg', 'payload is not a complete JPEG (FF D8 … FF D9)');
  return { sequence, capturedAt, width, height, jpeg };
}

function isDimension(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 0xffff;
}
