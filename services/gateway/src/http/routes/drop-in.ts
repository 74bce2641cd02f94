/**
 * The URLs other MJPEG servers use, on the camera a URL names or the first one a caller may
 * view: mjpg-streamer's (`/?action=stream`, `/?action=snapshot`, sharing `/` with the viewer
 * page), µStreamer's (`/stream`, `/snapshot`, `/state`) and the classic single server's
 * (`/video_feed`).
 */
import type Koa from 'koa';
import type { Router } from '@koa/router';
import { forbidden, mayView, unauthorized } from '../access.js';
import type { RouteOptions } from '../app-options.js';
import { isOnline, listCameras, requireCamera } from '../cameras.js';
import { HttpError } from '../errors.js';
import { bearerOf, cameraIdOf, queryValue, signedQueryOf } from '../request.js';
import { loadViewerPage } from '../viewer-page.js';
import type { StreamHandlers } from './streams.js';

export function dropInRoutes(
  router: Router,
  { access, directory, feeds, frameAncestors }: RouteOptions,
  { stream, snapshot }: StreamHandlers,
): void {
  const viewerPage = loadViewerPage(frameAncestors);

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

  // The classic single-server URL, and µStreamer's (mjpg-streamer's are on '/').
  router.get('/video_feed', async (ctx) => stream(ctx, await chosenCamera(ctx)));
  router.get('/stream', async (ctx) => stream(ctx, await chosenCamera(ctx)));
  router.get('/snapshot', async (ctx) => snapshot(ctx, await chosenCamera(ctx)));

  // µStreamer's /state, where it maps: the source's size, measured rate and liveness, and this gateway's viewers of it.
  router.get('/state', async (ctx) => {
    const cameraId = await chosenCamera(ctx);
    access.forCamera(cameraId, bearerOf(ctx), signedQueryOf(ctx));
    const camera = await requireCamera(directory, cameraId);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      ok: true,
      result: {
        source: {
          resolution: { width: camera.width, height: camera.height },
          online: isOnline(camera, Date.now()),
          captured_fps: camera.fps,
        },
        // The camera's own feed (its id is the camera's): viewers of its smaller sizes are not counted.
        stream: { clients: feeds.all.get(cameraId)?.viewerCount ?? 0 },
      },
    };
  });
}
