/**
 * How capture talks to the process that runs one of its cameras (camera-worker.ts): JSON
 * messages on the IPC channel for control and status, and envelopes on a pipe of their own
 * (fd 3), length-prefixed, so frames are never serialised as JSON nor copied through IPC's
 * serialiser.
 */
import type { CameraInfo } from '@camrelay/bus';
import type { CameraSpec } from '../cameras.js';

/** What a worker reports of its camera: its directory entry, and how its frames are made. */
export interface WorkerCameraInfo extends CameraInfo {
  /** Its latest frame was published as its source delivered it (MJPEG passthrough), not encoded here. */
  readonly passthrough: boolean;
}

/** A worker's report as the directory has it: CameraInfo's fields alone. */
export function directoryEntryOf({ id, width, height, fps, lastFrameAt, sleeping, sizes }: CameraInfo): CameraInfo {
  return { id, width, height, fps, lastFrameAt, sleeping, sizes };
}

/** The file descriptor of the envelope pipe in the worker. */
export const FRAME_PIPE_FD = 3;

export interface WorkerSettings {
  readonly spec: CameraSpec;
  readonly jpegQuality: number;
  readonly mjpegPassthrough: boolean;
  readonly maxFrameBytes: number;
  readonly maxSourceSize: { readonly width: number; readonly height: number };
  readonly logLevel: string;
  /** The smaller sizes watched when the worker starts. */
  readonly sizes: readonly string[];
  /** How often the worker reports; silence for a few times this means it hangs. */
  readonly statusEveryMs: number;
}

/** What a worker counts (since it started). */
export interface WorkerCounters {
  readonly framesCaptured: number;
  readonly droppedFrames: number;
  readonly unchangedFrames: number;
  readonly oversizeFrames: number;
  readonly opens: number;
  readonly openFailures: number;
  readonly scaleFailures: number;
  readonly scaledFrames: Readonly<Record<string, number>>;
  /** Frames encoded in H.264 (every size together), and frames an encoder was too busy to take. */
  readonly h264Frames: number;
  readonly h264Behind: number;
}

export const NO_COUNTERS: WorkerCounters = {
  framesCaptured: 0,
  droppedFrames: 0,
  unchangedFrames: 0,
  oversizeFrames: 0,
  opens: 0,
  openFailures: 0,
  scaleFailures: 0,
  scaledFrames: {},
  h264Frames: 0,
  h264Behind: 0,
};

export function addCounters(a: WorkerCounters, b: WorkerCounters): WorkerCounters {
  const scaledFrames: Record<string, number> = { ...a.scaledFrames };
  for (const [size, count] of Object.entries(b.scaledFrames)) scaledFrames[size] = (scaledFrames[size] ?? 0) + count;
  return {
    framesCaptured: a.framesCaptured + b.framesCaptured,
    droppedFrames: a.droppedFrames + b.droppedFrames,
    unchangedFrames: a.unchangedFrames + b.unchangedFrames,
    oversizeFrames: a.oversizeFrames + b.oversizeFrames,
    opens: a.opens + b.opens,
    openFailures: a.openFailures + b.openFailures,
    scaleFailures: a.scaleFailures + b.scaleFailures,
    scaledFrames,
    h264Frames: a.h264Frames + b.h264Frames,
    h264Behind: a.h264Behind + b.h264Behind,
  };
}

export type ToWorker =
  { readonly type: 'start'; readonly settings: WorkerSettings } | { readonly type: 'sizes'; readonly sizes: readonly string[] };

export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'status'; readonly info: WorkerCameraInfo; readonly counters: WorkerCounters }
  | { readonly type: 'first-frame'; readonly jpegBytes: number; readonly info: WorkerCameraInfo; readonly counters: WorkerCounters };

/** Prefix of one envelope on the pipe: its length after the 4 length bytes, and its feed id. */
export function framePrefix(feed: string, envelopeBytes: number): Buffer {
  const prefix = Buffer.allocUnsafe(5 + feed.length);
  prefix.writeUInt32BE(1 + feed.length + envelopeBytes, 0);
  prefix[4] = feed.length;
  prefix.write(feed, 5, 'latin1');
  return prefix;
}

/**
 * Cuts the pipe's byte stream back into envelopes. Chunks are only joined when an envelope
 * spans them; each envelope handed on is a view of those bytes, not a copy.
 */
export class FramePipeReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly onEnvelope: (feed: string, envelope: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    while (this.buffered >= 4) {
      const head = this.chunks[0]!.length >= 4 ? this.chunks[0]! : this.join();
      const length = head.readUInt32BE(0);
      if (this.buffered < 4 + length) return;
      const bytes = this.chunks[0]!.length >= 4 + length ? this.chunks[0]! : this.join();
      const feedLength = bytes[4]!;
      const feed = bytes.toString('latin1', 5, 5 + feedLength);
      const envelope = bytes.subarray(5 + feedLength, 4 + length);
      const rest = bytes.subarray(4 + length);
      this.chunks = rest.length > 0 ? [rest, ...this.chunks.slice(1)] : this.chunks.slice(1);
      this.buffered -= 4 + length;
      this.onEnvelope(feed, envelope);
    }
  }

  private join(): Buffer {
    const joined = Buffer.concat(this.chunks, this.buffered);
    this.chunks = [joined];
    return joined;
  }
}
