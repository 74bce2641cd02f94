/**
 * A camera's streams and snapshot: `/cameras/:id/stream.mjpg` (motion JPEG),
 * `/cameras/:id/stream.mp4` (H.264 in fragmented MP4, the low-bandwidth tier) and
 * `/cameras/:id/snapshot.jpg`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type Koa from 'koa';
import type { Router } from '@koa/router';
import type { CameraInfo } from '@camrelay/bus';
import { FRAME_SIZE_PATTERN, feedId } from '@camrelay/frame';
import type { Tier } from '@camrelay/frame';
import { streamContentType, streamPreamble } from '@camrelay/multipart';
import type { Fanout } from '../../fanout/fanout.js';
import type { FeedLease } from '../../fanout/feeds.js';
import { VideoFanout } from '../../fanout/video-fanout.js';
import type { Grant } from '../access.js';
import type { RouteOptions } from '../app-options.js';
import { requireCamera } from '../cameras.js';
import { HttpError, busUnavailable, shuttingDown } from '../errors.js';
import { bearerOf, cameraIdOf, queryValue, signedQueryOf } from '../request.js';
import type { StreamSockets } from '../stream-sockets.js';

const MAX_FPS = 60;
const PREAMBLE = streamPreamble();
/** What every stream's response says besides its type: never cached, never buffered by a proxy. */
const STREAM_HEADERS = {
  'Cache-Control': 'no-store, no-cache, must-revalidate, max-age=0',
  Pragma: 'no-cache',
  Expires: '0',
  // Tells nginx not to buffer even where proxy_buffering is on.
  'X-Accel-Buffering': 'no',
};
const CONTENT_TYPES: Record<Tier, string> = { mjpeg: streamContentType(), h264: 'video/mp4' };

/** Answers a request with a camera's stream or snapshot; the drop-in URLs use them too. */
export interface StreamHandlers {
  readonly stream: (ctx: Koa.Context, cameraId: string, tier?: Tier) => Promise<void>;
  readonly snapshot: (ctx: Koa.Context, cameraId: string) => Promise<void>;
}

export function streamRoutes(router: Router, options: RouteOptions): StreamHandlers {
  const { feeds, limits, access, directory, log } = options;

  /**
   * The camera and feed a stream or snapshot asks for. Whether a camera nobody here watches is
   * asleep is read afresh, not from a list up to a second old: its first viewer gets STARTING,
   * not its last frame from before it slept passing for live.
   */
  const cameraToWatch = async (cameraId: string, size: string | string[] | undefined, tier: Tier = 'mjpeg') => {
    let camera = await requireCamera(directory, cameraId);
    const feed = feedOf(size, camera, tier);
    if (!feeds.isWatched(feed)) camera = await requireCamera(directory, cameraId, true);
    return { camera, feed };
  };

  const authorize = (ctx: Koa.Context, cameraId: string): Grant => access.forCamera(cameraId, bearerOf(ctx), signedQueryOf(ctx));

  const stream = async (ctx: Koa.Context, cameraId: string, tier: Tier = 'mjpeg') => {
    const minIntervalMs = tier === 'mjpeg' ? parseFpsCap(ctx.query.fps) : refuseFpsCap(ctx.query.fps);
    const grant = authorize(ctx, cameraId);
    if (!options.accepting()) throw shuttingDown();
    if (ctx.method === 'HEAD') options.snapshotRate.take(ctx.ip);
    const { camera, feed } = await cameraToWatch(cameraId, ctx.query.size, tier);
    if (!(camera.tiers ?? ['mjpeg']).includes(tier))
      throw new HttpError(
        501,
        'no_h264',
        `camera ${cameraId} has no H.264 tier: its capture host has no ffmpeg with libx264 (apt-get install ffmpeg there); stream.mjpg works`,
      );
    if (ctx.method === 'HEAD') {
      // A stream's headers only: a HEAD response must end, so it is not a viewer.
      ctx.status = 200;
      ctx.type = CONTENT_TYPES[tier];
      ctx.set('Cache-Control', 'no-store');
      return;
    }
    const slot = limits.admit(ctx.ip);
    let lease: FeedLease<Fanout> | FeedLease<VideoFanout>;
    try {
      lease = tier === 'h264' ? await feeds.watchVideo(feed) : await feeds.watch(feed, camera.sleeping);
    } catch {
      slot();
      throw busUnavailable();
    }
    // The one place a viewer is tidied up: its slot under the limits and its hold on the feed,
    // each given back once however often this runs (its stream ends, its socket closes, or both).
    const leave = () => {
      slot();
      lease.release();
    };
    if (!options.accepting()) {
      leave(); // shutdown began while we subscribed
      throw shuttingDown();
    }
    if (grant.expiresAt !== undefined) {
      access.signedStreamsOpened++;
      if (grant.viewer !== undefined) log.info({ camera: cameraId, viewer: grant.viewer }, 'signed stream opened');
    }
    // The body is written by the fanout for as long as the viewer stays, not by Koa.
    ctx.respond = false;
    const res = ctx.res;
    // The stream has no length and its connection is never reused: send it close-delimited
    // rather than chunked, so each part is one plain write and clients see the bare body.
    res.useChunkedEncodingByDefault = false;
    res.writeHead(200, { 'Content-Type': CONTENT_TYPES[tier], ...STREAM_HEADERS });
    const fanout = lease.fanout;
    let attach: ViewerStart['attach'];
    if (fanout instanceof VideoFanout) {
      // Sent now: the fanout writes the body to the socket itself, after the head.
      res.flushHeaders();
      attach = (socket, onLeave) => fanout.add(socket, onLeave);
    } else {
      res.write(PREAMBLE);
      attach = (socket, onLeave) => fanout.add(socket, minIntervalMs, onLeave);
    }
    // Once the head is flushed (next tick) and the request's parsing is over, the stream is its socket alone.
    setImmediate(startViewer, options.streams, ctx.req, res, { attach, expiresAt: grant.expiresAt, onLeave: leave });
  };

  const snapshot = async (ctx: Koa.Context, cameraId: string) => {
    authorize(ctx, cameraId);
    options.snapshotRate.take(ctx.ip);
    const { camera, feed } = await cameraToWatch(cameraId, ctx.query.size);
    // A sleeping camera is woken for a snapshot, as for a stream; a smaller size not encoded now, likewise.
    const frame = await feeds.freshFrame(feed, options.snapshotWakeMs, camera.sleeping).catch(() => {
      throw busUnavailable();
    });
    if (!frame) throw new HttpError(503, 'no_frame', `camera ${cameraId} has no recent frame`, { 'Retry-After': '1' });
    ctx.set('Cache-Control', 'no-store');
    ctx.set('X-Timestamp', (frame.capturedAt / 1000).toFixed(6));
    ctx.set('X-Sequence', String(frame.sequence));
    ctx.type = 'image/jpeg';
    ctx.body = frame.jpeg;
  };

  router.get('/cameras/:id/stream.mjpg', (ctx) => stream(ctx, cameraIdOf(ctx.params.id)));
  router.get('/cameras/:id/stream.mp4', (ctx) => stream(ctx, cameraIdOf(ctx.params.id), 'h264'));
  router.get('/cameras/:id/snapshot.jpg', (ctx) => snapshot(ctx, cameraIdOf(ctx.params.id)));
  return { stream, snapshot };
}

interface ViewerStart {
  /** Adds the socket to its feed's fanout; returns what ends its stream early. */
  readonly attach: (socket: Socket, onLeave: () => void) => () => void;
  /** When a signed URL's access ends, open stream or not. */
  readonly expiresAt: number | undefined;
  readonly onLeave: () => void;
}

/**
 * Hands a stream's socket to its feed's fanout. Kept apart from the route so that nothing
 * living as long as the stream (its listeners, its expiry timer) closes over the request,
 * the response or the Koa context, which the hand-over exists to let go of.
 */
function startViewer(streams: StreamSockets, request: IncomingMessage, response: ServerResponse, start: ViewerStart): void {
  const socket = streams.takeOver(request, response);
  if (!socket) {
    start.onLeave();
    return;
  }
  const end = start.attach(socket, start.onLeave);
  // The viewer page opens a fresh URL before its expiry, so its picture does not stop.
  if (start.expiresAt !== undefined) {
    const expiry = setTimeout(end, Math.max(0, start.expiresAt - Date.now()));
    socket.on('close', () => clearTimeout(expiry));
  }
}

/**
 * The feed a stream or snapshot asks for with ?size=WxH: the camera's own (no size, or its own
 * size) or one of its smaller sizes, encoded once for every viewer who asks. Anything else is a
 * 400 naming the sizes there are: the camera's own size first, never a larger one.
 */
function feedOf(raw: string | string[] | undefined, camera: CameraInfo, tier: Tier): string {
  const size = queryValue(raw);
  if (size === undefined || size === camera.sizes[0]) return feedId(camera.id, undefined, tier);
  if (camera.sizes.length === 0)
    throw new HttpError(503, 'no_frame', `camera ${camera.id} has sent no frame yet: its sizes are not known`, { 'Retry-After': '1' });
  if (!FRAME_SIZE_PATTERN.test(size) || !camera.sizes.includes(size))
    throw new HttpError(400, 'bad_size', `size must be one of ${camera.sizes.join(', ')} for camera ${camera.id}`);
  return feedId(camera.id, size, tier);
}

/** ?fps=N on stream.mp4: H.264 cannot leave frames out (each depends on the one before), so it is refused, not ignored. */
function refuseFpsCap(raw: string | string[] | undefined): number {
  if (raw !== undefined)
    throw new HttpError(
      400,
      'bad_fps',
      'fps applies to stream.mjpg only: an H.264 stream carries every frame (use ?size= for fewer bytes)',
    );
  return 0;
}

/** ?fps=N: the client's cap, as the smallest interval between its frames (0 = no cap). */
function parseFpsCap(raw: string | string[] | undefined): number {
  if (raw === undefined) return 0;
  const value = queryValue(raw);
  const fps = value !== undefined && /^\d{1,3}(\.\d{1,3})?$/.test(value) ? Number(value) : Number.NaN;
  if (!(fps > 0 && fps <= MAX_FPS)) throw new HttpError(400, 'bad_fps', `fps must be a number above 0 and at most ${MAX_FPS}`);
  return 1000 / fps;
}
