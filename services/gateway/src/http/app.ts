import type { IncomingMessage, ServerResponse } from 'node:http';
import Koa from 'koa';
import { Router } from '@koa/router';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { CameraInfo, FrameBus } from '@camrelay/bus';
import { FRAME_SIZE_PATTERN, feedId, isCameraId } from '@camrelay/frame';
import { streamContentType, streamPreamble } from '@camrelay/multipart';
import type { AccessControl, Grant, SignedQuery } from './access.js';
import { SIGNED_URL_TTL_RANGE, allowedTtl, forbidden, isViewerId, mayView, unauthorized } from './access.js';
import { CameraDirectory } from '../shared-state/camera-directory.js';
import { HttpError, busUnavailable, errorBody, shuttingDown, toHttpError } from './errors.js';
import type { Fanout } from '../fanout/fanout.js';
import type { FeedLease, Feeds } from '../fanout/feeds.js';
import type { StreamSockets } from './stream-sockets.js';
import type { RatePerAddress } from './rate-per-address.js';
import type { ViewerLimits } from './viewer-limits.js';
import { loadViewerPage } from './viewer-page.js';

export interface AppOptions {
  readonly bus: FrameBus;
  readonly feeds: Feeds;
  readonly metrics: Registry;
  readonly log: Logger;
  readonly access: AccessControl;
  readonly limits: ViewerLimits;
  /** Snapshots and HEAD requests per client address and second. */
  readonly snapshotRate: RatePerAddress;
  /** Take client addresses from X-Forwarded-For (its last entry: the one our proxy added). */
  readonly trustProxy: boolean;
  /** Origins that may show the viewer page in a frame (FRAME_ANCESTORS); none when empty. */
  readonly frameAncestors: readonly string[];
  /** How long a snapshot of a sleeping camera waits for a frame. */
  readonly snapshotWakeMs: number;
  /** Where streams' sockets go once their response head is written. */
  readonly streams: StreamSockets;
  /** False while shutting down: /readyz turns 503 and new streams are refused. */
  readonly accepting: () => boolean;
}

/** A camera counts as online while its frames are this fresh. */
const ONLINE_WITHIN_MS = 3000;
const MAX_FPS = 60;
const GONE_CLIENT = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE']);
const PREAMBLE = streamPreamble();

/** Routes and middleware only; the fan-out lives in Feeds/Fanout and knows nothing of Koa. */
export function createApp(options: AppOptions): Koa {
  const { bus, feeds, metrics, log, access, limits } = options;
  const app = new Koa({ proxy: options.trustProxy, maxIpsCount: 1 });
  const directory = new CameraDirectory(bus);
  const router = new Router();
  const viewerPage = loadViewerPage(options.frameAncestors);
  // Replaces Koa's default, which prints a stack trace to stderr for every viewer that resets
  // its connection mid-stream: routine for a stream server, and thousands an hour.
  app.on('error', (error: NodeJS.ErrnoException, ctx?: Koa.Context) => {
    if (error.code !== undefined && GONE_CLIENT.has(error.code)) return;
    log.warn({ err: error, path: ctx?.path }, 'request error');
  });

  app.use(async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined && ctx.respond !== false) {
        throw new HttpError(404, 'not_found', `no route for ${ctx.method} ${ctx.path}`);
      }
    } catch (error) {
      const known = toHttpError(error);
      if (!known) log.error({ err: error, path: ctx.path }, 'request failed');
      ctx.status = known?.status ?? 500;
      ctx.set(known?.headers ?? {});
      ctx.set('Cache-Control', 'no-store');
      ctx.body = known ? errorBody(known.code, known.message) : errorBody('internal', 'internal error');
    }
  });

  router.get('/', async (ctx) => {
    // mjpg-streamer's URLs (/?action=stream, /?action=snapshot) share the viewer page's path.
    const action = queryValue(ctx.query.action);
    if (action === 'stream') return stream(ctx, await chosenCamera(ctx));
    if (action === 'snapshot') return snapshot(ctx, await chosenCamera(ctx));
    if (action !== undefined) throw new HttpError(400, 'bad_action', 'action must be stream or snapshot');
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-cache');
    ctx.set(viewerPage.headers);
    ctx.body = viewerPage.html;
  });

  /** A camera's stream and snapshot URLs: signed for whoever holds them when access control is on. */
  const urlsOf = (cameraId: string, ttlSeconds?: number, viewer?: string) => {
    const base = `/cameras/${cameraId}`;
    if (!access.enabled) return { streamUrl: `${base}/stream.mjpg`, snapshotUrl: `${base}/snapshot.jpg`, expiresAt: null };
    const signed = access.sign(cameraId, ttlSeconds, viewer);
    return {
      streamUrl: `${base}/stream.mjpg?${signed.query}`,
      snapshotUrl: `${base}/snapshot.jpg?${signed.query}`,
      expiresAt: new Date(signed.expiresAt).toISOString(),
    };
  };

  router.get('/api/cameras', async (ctx) => {
    const grant = access.fromBearer(bearerOf(ctx));
    const now = Date.now();
    ctx.set('Cache-Control', 'no-store');
    ctx.body = (await listCameras(directory))
      .filter((camera) => mayView(grant, camera.id))
      .map((camera) => {
        const { streamUrl, snapshotUrl } = urlsOf(camera.id);
        return {
          id: camera.id,
          width: camera.width,
          height: camera.height,
          fps: camera.fps,
          online: camera.lastFrameAt !== null && now - camera.lastFrameAt < ONLINE_WITHIN_MS,
          lastFrameAt: camera.lastFrameAt === null ? null : new Date(camera.lastFrameAt).toISOString(),
          sleeping: camera.sleeping,
          sizes: camera.sizes,
          streamUrl,
          snapshotUrl,
        };
      });
  });

  // Signed URLs for one camera, for a page or a script that hands them to someone else.
  router.get('/api/cameras/:id/urls', async (ctx) => {
    const cameraId = cameraIdOf(ctx.params.id);
    const ttl = ctx.query.ttl === undefined ? access.ttlSeconds : parseWhole(ctx.query.ttl, 'ttl', ...SIGNED_URL_TTL_RANGE);
    const viewer = queryValue(ctx.query.viewer);
    if (viewer !== undefined && !isViewerId(viewer)) throw new HttpError(400, 'bad_viewer', 'viewer ids are 1-64 letters, digits or ._@-');
    const grant = access.fromBearer(bearerOf(ctx));
    if (!mayView(grant, cameraId)) throw forbidden();
    await requireCamera(directory, cameraId);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { camera: cameraId, ...urlsOf(cameraId, allowedTtl(grant, ttl), viewer) };
  });

  /**
   * The camera and feed a stream or snapshot asks for. Whether a camera nobody here watches is
   * asleep is read afresh, not from a list up to a second old: its first viewer gets STARTING,
   * not its last frame from before it slept passing for live.
   */
  const cameraToWatch = async (cameraId: string, size: string | string[] | undefined) => {
    let camera = await requireCamera(directory, cameraId);
    const feed = feedOf(size, camera);
    if (!feeds.isWatched(feed)) camera = await requireCamera(directory, cameraId, true);
    return { camera, feed };
  };

  const authorize = (ctx: Koa.Context, cameraId: string): Grant => access.forCamera(cameraId, bearerOf(ctx), signedQueryOf(ctx));

  const stream = async (ctx: Koa.Context, cameraId: string) => {
    const minIntervalMs = parseFpsCap(ctx.query.fps);
    const grant = authorize(ctx, cameraId);
    if (!options.accepting()) throw shuttingDown();
    if (ctx.method === 'HEAD') options.snapshotRate.take(ctx.ip);
    const { camera, feed } = await cameraToWatch(cameraId, ctx.query.size);
    if (ctx.method === 'HEAD') {
      // A stream's headers only: a HEAD response must end, so it is not a viewer.
      ctx.status = 200;
      ctx.type = streamContentType();
      ctx.set('Cache-Control', 'no-store');
      return;
    }
    const slot = limits.admit(ctx.ip);
    let lease: FeedLease;
    try {
      lease = await feeds.watch(feed, camera.sleeping);
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
    if (grant.viewer !== undefined) log.info({ camera: cameraId, viewer: grant.viewer }, 'signed stream opened');
    // The multipart body is written by the fanout for as long as the viewer stays, not by Koa.
    ctx.respond = false;
    const res = ctx.res;
    // The stream has no length and its connection is never reused: send it close-delimited
    // rather than chunked, so each part is one plain write and clients see bare multipart.
    res.useChunkedEncodingByDefault = false;
    res.writeHead(200, {
      'Content-Type': streamContentType(),
      'Cache-Control': 'no-store, no-cache, must-revalidate, max-age=0',
      Pragma: 'no-cache',
      Expires: '0',
      // Tells nginx not to buffer even where proxy_buffering is on.
      'X-Accel-Buffering': 'no',
    });
    res.write(PREAMBLE);
    // Once the head is flushed (next tick) and the request's parsing is over, the stream is its socket alone.
    setImmediate(startViewer, options.streams, ctx.req, res, {
      fanout: lease.fanout,
      minIntervalMs,
      expiresAt: grant.expiresAt,
      onLeave: leave,
    });
  };

  router.get('/cameras/:id/stream.mjpg', (ctx) => stream(ctx, cameraIdOf(ctx.params.id)));

  /**
   * The camera of a URL that names none in its path (the classic and drop-in URLs): ?camera=ID,
   * else the first camera these credentials may view.
   */
  const chosenCamera = async (ctx: Koa.Context): Promise<string> => {
    const asked = queryValue(ctx.query.camera);
    if (asked !== undefined) return cameraIdOf(asked);
    const cameras = await listCameras(directory);
    const bearer = bearerOf(ctx);
    const grant = bearer === undefined ? null : access.fromBearer(bearer);
    const first = grant ? cameras.find((camera) => mayView(grant, camera.id)) : cameras[0];
    if (!first && access.enabled) throw grant ? forbidden() : unauthorized();
    if (!first) throw new HttpError(404, 'no_cameras', 'no camera has been announced yet');
    return first.id;
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

  router.get('/cameras/:id/snapshot.jpg', (ctx) => snapshot(ctx, cameraIdOf(ctx.params.id)));

  // The classic single-server URL, and µStreamer's (mjpg-streamer's are on '/').
  router.get('/video_feed', async (ctx) => stream(ctx, await chosenCamera(ctx)));
  router.get('/stream', async (ctx) => stream(ctx, await chosenCamera(ctx)));
  router.get('/snapshot', async (ctx) => snapshot(ctx, await chosenCamera(ctx)));

  // µStreamer's /state, where it maps: the source's size, measured rate and liveness, and this gateway's viewers of it.
  router.get('/state', async (ctx) => {
    const cameraId = await chosenCamera(ctx);
    authorize(ctx, cameraId);
    const camera = await requireCamera(directory, cameraId);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      ok: true,
      result: {
        source: {
          resolution: { width: camera.width, height: camera.height },
          online: camera.lastFrameAt !== null && Date.now() - camera.lastFrameAt < ONLINE_WITHIN_MS,
          captured_fps: camera.fps,
        },
        stream: { clients: feeds.all.get(cameraId)?.viewerCount ?? 0 },
      },
    };
  });

  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });

  router.get('/readyz', (ctx) => {
    // Not ready means "send new viewers elsewhere": no bus, shutting down, or no room left.
    const reason = !bus.isUp
      ? 'frame bus not connected'
      : !options.accepting()
        ? 'shutting down'
        : limits.full
          ? 'at its viewer limit'
          : null;
    ctx.status = reason ? 503 : 200;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = reason ? errorBody('not_ready', reason) : { status: 'ready' };
  });

  router.get('/metrics', async (ctx) => {
    // Its labels name cameras: only a token for every camera, or one for metrics alone, may read it.
    if (!access.fromBearer(bearerOf(ctx)).metrics) throw forbidden();
    ctx.type = metrics.contentType;
    ctx.body = await metrics.metrics();
  });

  app.use(router.routes());
  app.use(router.allowedMethods({ throw: true, methodNotAllowed: () => new HttpError(405, 'method_not_allowed', 'method not allowed') }));
  return app;
}

interface ViewerStart {
  readonly fanout: Fanout;
  readonly minIntervalMs: number;
  /** When a signed URL's access ends, open stream or not. */
  readonly expiresAt: number | undefined;
  readonly onLeave: () => void;
}

/**
 * Hands a stream's socket to its camera's fanout. Kept apart from the route so that nothing
 * living as long as the stream (its listeners, its expiry timer) closes over the request,
 * the response or the Koa context, which the hand-over exists to let go of.
 */
function startViewer(streams: StreamSockets, request: IncomingMessage, response: ServerResponse, start: ViewerStart): void {
  const socket = streams.takeOver(request, response);
  if (!socket) {
    start.onLeave();
    return;
  }
  const end = start.fanout.add(socket, start.minIntervalMs, start.onLeave);
  // The viewer page opens a fresh URL before its expiry, so its picture does not stop.
  if (start.expiresAt !== undefined) {
    const expiry = setTimeout(end, Math.max(0, start.expiresAt - Date.now()));
    socket.on('close', () => clearTimeout(expiry));
  }
}

function bearerOf(ctx: Koa.Context): string | undefined {
  return ctx.get('Authorization') || undefined;
}

function queryValue(raw: string | string[] | undefined): string | undefined {
  return Array.isArray(raw) ? raw[0] : raw;
}

function signedQueryOf(ctx: Koa.Context): SignedQuery {
  return { exp: queryValue(ctx.query.exp), sig: queryValue(ctx.query.sig), viewer: queryValue(ctx.query.viewer) };
}

function parseWhole(raw: string | string[] | undefined, name: 'ttl', min: number, max: number): number {
  const value = queryValue(raw);
  const number = value !== undefined && /^\d{1,9}$/.test(value) ? Number(value) : Number.NaN;
  if (!(number >= min && number <= max)) throw new HttpError(400, `bad_${name}`, `${name} must be a whole number from ${min} to ${max}`);
  return number;
}

function cameraIdOf(raw: string | undefined): string {
  if (raw === undefined || !isCameraId(raw)) {
    throw new HttpError(400, 'bad_camera_id', 'camera ids are 1-64 letters, digits, "_" or "-"');
  }
  return raw;
}

/**
 * The feed a stream or snapshot asks for with ?size=WxH: the camera's own (no size, or its own
 * size) or one of its smaller sizes, encoded once for every viewer who asks. Anything else is a
 * 400 naming the sizes there are: the camera's own size first, never a larger one.
 */
function feedOf(raw: string | string[] | undefined, camera: CameraInfo): string {
  const size = queryValue(raw);
  if (size === undefined || size === camera.sizes[0]) return camera.id;
  if (camera.sizes.length === 0)
    throw new HttpError(503, 'no_frame', `camera ${camera.id} has sent no frame yet: its sizes are not known`, { 'Retry-After': '1' });
  if (!FRAME_SIZE_PATTERN.test(size) || !camera.sizes.includes(size))
    throw new HttpError(400, 'bad_size', `size must be one of ${camera.sizes.join(', ')} for camera ${camera.id}`);
  return feedId(camera.id, size);
}

/** ?fps=N: the client's cap, as the smallest interval between its frames (0 = no cap). */
function parseFpsCap(raw: string | string[] | undefined): number {
  if (raw === undefined) return 0;
  const value = queryValue(raw);
  const fps = value !== undefined && /^\d{1,3}(\.\d{1,3})?$/.test(value) ? Number(value) : Number.NaN;
  if (!(fps > 0 && fps <= MAX_FPS)) throw new HttpError(400, 'bad_fps', `fps must be a number above 0 and at most ${MAX_FPS}`);
  return 1000 / fps;
}

async function listCameras(directory: CameraDirectory): Promise<CameraInfo[]> {
  try {
    return await directory.list();
  } catch {
    throw busUnavailable();
  }
}

async function requireCamera(directory: CameraDirectory, cameraId: string, fresh = false): Promise<CameraInfo> {
  const camera = await directory.find(cameraId, fresh).catch(() => {
    throw busUnavailable();
  });
  if (!camera) throw new HttpError(404, 'unknown_camera', `no camera ${JSON.stringify(cameraId)}`);
  return camera;
}
