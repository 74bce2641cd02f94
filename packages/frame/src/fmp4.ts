/**
 * Fragmented MP4 as a live H.264 stream carries it (stream.mp4, or FFmpeg's `-movflags
 * +empty_moov+frag_every_frame`): an init segment (ftyp + moov), then one fragment (moof +
 * mdat) per frame. Clients, tests and benchmarks cut a stream into these, read which fragments
 * are keyframes and when they are decoded, and (the benchmark's floor) set their decode times.
 * ISO/IEC 14496-12: a box is its size (32 bits; 1 means 64 bits follow the type) and its type.
 */
import { EnvelopeError } from './envelope.js';

/** Bit of a sample's flags that marks it as not a sync sample (not a keyframe). */
const NON_SYNC = 0x00010000;

interface Box {
  readonly type: string;
  /** Where the box starts, in the buffer it was read from. */
  readonly start: number;
  /** Where its contents start (after size and type). */
  readonly body: number;
  readonly end: number;
}

/** The boxes in buffer[from, to), in order. */
function* boxes(buffer: Buffer, from = 0, to = buffer.length): Generator<Box, void> {
  let at = from;
  while (at + 8 <= to) {
    let size = buffer.readUInt32BE(at);
    let body = at + 8;
    if (size === 1) {
      if (at + 16 > to) break;
      size = Number(buffer.readBigUInt64BE(at + 8));
      body = at + 16;
    }
    if (size < body - at || at + size > to) throw new EnvelopeError('bad_segment', `malformed MP4 box at ${at}`);
    yield { type: buffer.toString('latin1', at + 4, at + 8), start: at, body, end: at + size };
    at += size;
  }
}

function child(buffer: Buffer, parent: Box, type: string): Box | undefined {
  for (const box of boxes(buffer, parent.body, parent.end)) if (box.type === type) return box;
  return undefined;
}

/** What a stream's init segment tells about its fragments: the track's default sample flags (trex). */
export interface InitInfo {
  readonly defaultSampleFlags: number;
  /** Ticks per second of the track's decode times (mdhd). */
  readonly timescale: number;
}

export function readInit(init: Buffer): InitInfo {
  let defaultSampleFlags = 0;
  let timescale = 0;
  for (const box of boxes(init)) {
    if (box.type !== 'moov') continue;
    const trak = child(init, box, 'trak');
    const mdhd = trak && child(init, trak, 'mdia') && child(init, child(init, trak, 'mdia')!, 'mdhd');
    if (mdhd) timescale = init.readUInt32BE(mdhd.body + (init[mdhd.body] === 1 ? 20 : 12));
    const mvex = child(init, box, 'mvex');
    const trex = mvex && child(init, mvex, 'trex');
    if (trex) defaultSampleFlags = init.readUInt32BE(trex.body + 20);
  }
  if (timescale === 0) throw new EnvelopeError('bad_segment', 'init segment without a track timescale');
  return { defaultSampleFlags, timescale };
}

/** Where a fragment's timing lives, and whether it starts on a keyframe. */
export interface FragmentInfo {
  readonly keyframe: boolean;
  readonly samples: number;
  /** The decode time of its first sample, in the track's timescale. */
  readonly decodeTime: number;
  /** Offset of tfdt's baseMediaDecodeTime (64 bits: tfdt version 1). */
  readonly decodeTimeAt: number;
  /** Offset of the sample duration (tfhd's default or trun's first), or -1 when the fragment carries none. */
  readonly durationAt: number;
}

export function readFragment(fragment: Buffer, init: InitInfo): FragmentInfo {
  const first: IteratorResult<Box, void> = boxes(fragment).next();
  const moof = first.done ? undefined : first.value;
  if (!moof || moof.type !== 'moof') throw new EnvelopeError('bad_segment', 'fragment does not start with a moof box');
  const traf = child(fragment, moof, 'traf');
  const tfhd = traf && child(fragment, traf, 'tfhd');
  const tfdt = traf && child(fragment, traf, 'tfdt');
  const trun = traf && child(fragment, traf, 'trun');
  if (!tfhd || !tfdt || !trun) throw new EnvelopeError('bad_segment', 'fragment without tfhd, tfdt or trun');
  if (fragment[tfdt.body] !== 1) throw new EnvelopeError('bad_segment', 'tfdt version 0 (32-bit decode times) is not supported');

  // tfhd: version/flags, track_ID, then its optional fields in this order.
  const tfhdFlags = fragment.readUInt32BE(tfhd.body) & 0xffffff;
  let at = tfhd.body + 8;
  if (tfhdFlags & 0x01) at += 8; // base_data_offset
  if (tfhdFlags & 0x02) at += 4; // sample_description_index
  let durationAt = tfhdFlags & 0x08 ? at : -1;
  if (tfhdFlags & 0x08) at += 4;
  if (tfhdFlags & 0x10) at += 4; // default_sample_size
  const defaultFlags = tfhdFlags & 0x20 ? fragment.readUInt32BE(at) : init.defaultSampleFlags;

  // trun: version/flags, sample_count, [data_offset], [first_sample_flags], then per sample.
  const trunFlags = fragment.readUInt32BE(trun.body) & 0xffffff;
  const samples = fragment.readUInt32BE(trun.body + 4);
  at = trun.body + 8;
  if (trunFlags & 0x01) at += 4;
  let firstFlags: number | undefined;
  if (trunFlags & 0x04) {
    firstFlags = fragment.readUInt32BE(at);
    at += 4;
  }
  if (trunFlags & 0x100) durationAt = at; // the first sample's own duration wins over tfhd's default
  if (firstFlags === undefined && trunFlags & 0x400)
    firstFlags = fragment.readUInt32BE(at + (trunFlags & 0x100 ? 4 : 0) + (trunFlags & 0x200 ? 4 : 0));
  const flags = firstFlags ?? defaultFlags;
  return {
    keyframe: (flags & NON_SYNC) === 0,
    samples,
    decodeTime: Number(fragment.readBigUInt64BE(tfdt.body + 4)),
    decodeTimeAt: tfdt.body + 4,
    durationAt,
  };
}

/** Sets a fragment's decode time and, where it carries one, its first sample's duration (in place). */
export function retime(fragment: Buffer, info: FragmentInfo, decodeTime: number, duration?: number): void {
  fragment.writeBigUInt64BE(BigInt(decodeTime), info.decodeTimeAt);
  if (duration !== undefined && info.durationAt !== -1) fragment.writeUInt32BE(duration, info.durationAt);
}

/**
 * Cuts a byte stream of fragmented MP4 into its init segment (ftyp + moov, once) and its
 * fragments (moof + mdat, each handed on whole). Anything else between (styp, sidx, free) is
 * dropped. Bytes that are not MP4 throw from push().
 */
export class Fmp4Splitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private init: Buffer[] = [];
  private initDone = false;
  private moof: Buffer | null = null;

  constructor(
    private readonly onInit: (init: Buffer) => void,
    private readonly onFragment: (fragment: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    for (;;) {
      const head = this.peek(16);
      if (!head) return;
      let size = head.readUInt32BE(0);
      if (size === 1) {
        if (head.length < 16) return;
        size = Number(head.readBigUInt64BE(8));
      }
      if (size < 8) throw new EnvelopeError('bad_segment', `MP4 box of size ${size} (a stream must give every box its size)`);
      if (this.pendingBytes < size) return;
      const box = this.take(size);
      this.onBox(box.toString('latin1', 4, 8), box);
    }
  }

  private onBox(type: string, box: Buffer): void {
    if (!this.initDone) {
      if (type === 'ftyp' || type === 'moov') this.init.push(box);
      if (type === 'moov') {
        this.initDone = true;
        this.onInit(Buffer.concat(this.init));
        this.init = [];
      }
      return;
    }
    if (type === 'moof') this.moof = box;
    else if (type === 'mdat' && this.moof) {
      this.onFragment(Buffer.concat([this.moof, box]));
      this.moof = null;
    }
  }

  /** At least the first `bytes` buffered bytes, or all of them if fewer are buffered; null below 8. */
  private peek(bytes: number): Buffer | null {
    if (this.pendingBytes < 8) return null;
    if (this.pending[0]!.length >= Math.min(bytes, this.pendingBytes)) return this.pending[0]!;
    const joined = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [joined];
    return joined;
  }

  private take(bytes: number): Buffer {
    const joined = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    const box = joined.subarray(0, bytes);
    const rest = joined.subarray(bytes);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes -= bytes;
    return box;
  }
}
