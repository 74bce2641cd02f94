/**
 * The segment envelope: how one fragment of an H.264 feed (fragmented MP4: a moof and its mdat,
 * one frame) travels on the bus. The same first 24 bytes as a JPEG frame's envelope
 * (envelope.ts), version 2, so that capture stamps the fencing epoch into either alike:
 *
 *   offset  size  field
 *   0       2     magic "CR"
 *   2       1     version (2)
 *   3       1     flags: bit 0 set on a keyframe
 *   4       8     sequence (uint64 BE; the captured frame's number, as in envelope.ts)
 *   12      8     capturedAt (float64 BE, milliseconds since the Unix epoch)
 *   20      2     width (uint16 BE)
 *   22      2     height (uint16 BE)
 *   24      4     index: the fragment's place in its group of pictures, 0 for its keyframe
 *   28      4     init length: the init segment (ftyp + moov) a keyframe carries; 0 otherwise
 *   32      n     init segment, then the fragment
 *
 * A keyframe carries its encoder's init segment, so that whoever starts at it needs nothing
 * else; ~0.7 KB once a second. The index lets a gateway see a fragment lost on the way (a Redis
 * reconnect): from there its viewers wait for the next keyframe, never decode a broken picture.
 */
import { EnvelopeError } from './envelope.js';

export const SEGMENT_HEADER_BYTES = 32;
const VERSION = 2;
const KEYFRAME = 0x01;

export interface Segment {
  readonly sequence: number;
  readonly capturedAt: number;
  readonly width: number;
  readonly height: number;
  readonly keyframe: boolean;
  /** Place in its group of pictures: 0 for the keyframe, then 1, 2, … */
  readonly index: number;
  /** The encoder's init segment (ftyp + moov): on a keyframe, null otherwise. A view into the envelope when decoded. */
  readonly init: Buffer | null;
  /** moof + mdat; a view into the envelope when decoded. */
  readonly fragment: Buffer;
}

/** Whether an envelope is a segment's (version 2), read without decoding it. */
export function isSegmentEnvelope(envelope: Buffer): boolean {
  return envelope.length >= SEGMENT_HEADER_BYTES && envelope[2] === VERSION;
}

/** Whether a segment envelope starts a group of pictures, read without decoding it. */
export function isKeyframeEnvelope(envelope: Buffer): boolean {
  return isSegmentEnvelope(envelope) && (envelope[3]! & KEYFRAME) !== 0;
}

export function encodeSegment(segment: Segment): Buffer {
  const { sequence, capturedAt, width, height, keyframe, index, init, fragment } = segment;
  if (!Number.isSafeInteger(sequence) || sequence < 0)
    throw new EnvelopeError('bad_sequence', `sequence must be a non-negative safe integer, got ${sequence}`);
  if (!Number.isFinite(capturedAt)) throw new EnvelopeError('bad_timestamp', `capturedAt must be finite, got ${capturedAt}`);
  if (keyframe !== (init !== null) || keyframe !== (index === 0))
    throw new EnvelopeError('bad_segment', 'a keyframe, and only a keyframe, has index 0 and carries the init segment');
  const initBytes = init?.length ?? 0;
  const out = Buffer.allocUnsafe(SEGMENT_HEADER_BYTES + initBytes + fragment.length);
  out[0] = 0x43;
  out[1] = 0x52;
  out[2] = VERSION;
  out[3] = keyframe ? KEYFRAME : 0;
  out.writeBigUInt64BE(BigInt(sequence), 4);
  out.writeDoubleBE(capturedAt, 12);
  out.writeUInt16BE(width, 20);
  out.writeUInt16BE(height, 22);
  out.writeUInt32BE(index, 24);
  out.writeUInt32BE(initBytes, 28);
  if (init) out.set(init, SEGMENT_HEADER_BYTES);
  out.set(fragment, SEGMENT_HEADER_BYTES + initBytes);
  return out;
}

/** Throws EnvelopeError on anything that is not a well-formed segment envelope. */
export function decodeSegment(envelope: Buffer): Segment {
  if (envelope.length < SEGMENT_HEADER_BYTES + 8) throw new EnvelopeError('too_short', `message too short (${envelope.length} bytes)`);
  if (envelope[0] !== 0x43 || envelope[1] !== 0x52) throw new EnvelopeError('bad_magic', 'bad magic');
  if (envelope[2] !== VERSION) throw new EnvelopeError('unsupported_version', `not a segment envelope (version ${envelope[2]})`);
  const sequence = Number(envelope.readBigUInt64BE(4));
  if (!Number.isSafeInteger(sequence)) throw new EnvelopeError('bad_sequence', 'sequence out of range');
  const capturedAt = envelope.readDoubleBE(12);
  if (!Number.isFinite(capturedAt)) throw new EnvelopeError('bad_timestamp', 'capture time is not finite');
  const keyframe = (envelope[3]! & KEYFRAME) !== 0;
  const index = envelope.readUInt32BE(24);
  const initBytes = envelope.readUInt32BE(28);
  if (keyframe !== initBytes > 0 || keyframe !== (index === 0))
    throw new EnvelopeError('bad_segment', 'a keyframe, and only a keyframe, has index 0 and carries the init segment');
  if (SEGMENT_HEADER_BYTES + initBytes + 8 > envelope.length) throw new EnvelopeError('too_short', 'init segment longer than the message');
  const fragment = envelope.subarray(SEGMENT_HEADER_BYTES + initBytes);
  if (fragment.toString('latin1', 4, 8) !== 'moof') throw new EnvelopeError('bad_segment', 'fragment does not start with a moof box');
  return {
    sequence,
    capturedAt,
    width: envelope.readUInt16BE(20),
    height: envelope.readUInt16BE(22),
    keyframe,
    index,
    init: keyframe ? envelope.subarray(SEGMENT_HEADER_BYTES, SEGMENT_HEADER_BYTES + initBytes) : null,
    fragment,
  };
}
