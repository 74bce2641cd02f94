/**
 * Fragmented MP4 for one H.264 track, written by capture from the encoder's frames: the init
 * segment (ftyp + moov, the decoder configuration inside) and one fragment (moof + mdat) per
 * frame, each with its decode time and duration as capture knows them. ISO/IEC 14496-12 (boxes),
 * 14496-15 (avc1, avcC); what Chrome's Media Source Extensions, FFmpeg and VLC take.
 */

/** Ticks per second of decode times: MPEG's 90 kHz. */
export const TIMESCALE = 90_000;
/** Sample flags (trun): a sync sample that depends on no other; a sample that depends on others and is no sync sample. */
const KEYFRAME_FLAGS = 0x02000000;
const DELTA_FLAGS = 0x01010000;
const UNITY_MATRIX = [0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000];

function box(type: string, ...parts: Buffer[]): Buffer {
  const size = 8 + parts.reduce((sum, part) => sum + part.length, 0);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(size, 0);
  head.write(type, 4, 'latin1');
  return Buffer.concat([head, ...parts], size);
}

function fullBox(type: string, version: number, flags: number, ...parts: Buffer[]): Buffer {
  return box(type, u32((version << 24) | flags), ...parts);
}

function u32(...values: number[]): Buffer {
  const out = Buffer.alloc(4 * values.length);
  values.forEach((value, i) => out.writeUInt32BE(value >>> 0, 4 * i));
  return out;
}

function u16(...values: number[]): Buffer {
  const out = Buffer.alloc(2 * values.length);
  values.forEach((value, i) => out.writeUInt16BE(value & 0xffff, 2 * i));
  return out;
}

const zeros = (bytes: number) => Buffer.alloc(bytes);

/** The init segment: one video track of width x height, its avcC record as the encoder gave it. */
export function initSegment(avcC: Buffer, width: number, height: number): Buffer {
  const ftyp = box('ftyp', Buffer.from('iso5'), u32(0x200), Buffer.from('iso5iso6avc1mp41'));
  const mvhd = fullBox('mvhd', 0, 0, u32(0, 0, 1000, 0, 0x00010000), u16(0x0100), zeros(10), u32(...UNITY_MATRIX), zeros(24), u32(2));
  const tkhd = fullBox('tkhd', 0, 3, u32(0, 0, 1, 0, 0), zeros(8), u16(0, 0, 0, 0), u32(...UNITY_MATRIX), u32(width << 16, height << 16));
  const mdhd = fullBox('mdhd', 0, 0, u32(0, 0, TIMESCALE, 0), u16(0x55c4, 0)); // language 'und'
  const hdlr = fullBox('hdlr', 0, 0, u32(0), Buffer.from('vide'), zeros(12), Buffer.from('VideoHandler\0'));
  const avc1 = box(
    'avc1',
    zeros(6),
    u16(1), // data_reference_index
    zeros(16),
    u16(width, height),
    u32(0x00480000, 0x00480000, 0), // 72 dpi, reserved
    u16(1), // frame_count
    zeros(32), // compressorname
    u16(0x0018, 0xffff), // depth, pre_defined -1
    box('avcC', avcC),
  );
  const stbl = box(
    'stbl',
    fullBox('stsd', 0, 0, u32(1), avc1),
    fullBox('stts', 0, 0, u32(0)),
    fullBox('stsc', 0, 0, u32(0)),
    fullBox('stsz', 0, 0, u32(0, 0)),
    fullBox('stco', 0, 0, u32(0)),
  );
  const minf = box('minf', fullBox('vmhd', 0, 1, zeros(8)), box('dinf', fullBox('dref', 0, 0, u32(1), fullBox('url ', 0, 1))), stbl);
  const trak = box('trak', tkhd, box('mdia', mdhd, hdlr, minf));
  const mvex = box('mvex', fullBox('trex', 0, 0, u32(1, 1, 0, 0, 0)));
  return Buffer.concat([ftyp, box('moov', mvhd, trak, mvex)]);
}

export interface FragmentFields {
  /** mfhd's sequence number: rises by one per fragment of a stream. */
  readonly sequenceNumber: number;
  /** The frame's decode time, in TIMESCALE ticks. */
  readonly decodeTime: number;
  /** How long it shows, in TIMESCALE ticks. */
  readonly duration: number;
  readonly keyframe: boolean;
  /** Its NAL units, each prefixed with its 4-byte length. */
  readonly data: Buffer;
}

/** One frame's fragment: moof (its timing, size and flags) and mdat (its NAL units). */
export function fragment({ sequenceNumber, decodeTime, duration, keyframe, data }: FragmentFields): Buffer {
  const tfhd = fullBox('tfhd', 0, 0x020000, u32(1)); // default-base-is-moof, track 1
  const time = Buffer.alloc(8);
  time.writeBigUInt64BE(BigInt(decodeTime));
  const tfdt = fullBox('tfdt', 1, 0, time);
  // data offset, then each sample's duration, size and flags; the offset is filled in below.
  const trun = fullBox('trun', 0, 0x000701, u32(1, 0, duration, data.length, keyframe ? KEYFRAME_FLAGS : DELTA_FLAGS));
  const moof = box('moof', fullBox('mfhd', 0, 0, u32(sequenceNumber)), box('traf', tfhd, tfdt, trun));
  // From the moof's first byte to the sample's: the moof, then mdat's header.
  moof.writeUInt32BE(moof.length + 8, moof.length - trun.length + 16);
  return Buffer.concat([moof, box('mdat', data)]);
}
