/** The API: `/api/cameras`, and signed URLs for one camera at `/api/cameras/:id/urls`. */
import type { Router } from '@koa/router';
import { SIGNED_URL_TTL_RANGE, allowedTtl, forbidden, isViewerId, mayView } from '../access.js';
import type { AccessControl } from '../access.js';
import type { RouteOptions } from '../app-options.js';
import { isOnline, listCameras, requireCamera } from '../cameras.js';
import { HttpError } from '../errors.js';
import { bearerOf, cameraIdOf, parseWhole, queryValue } from '../request.js';

export function apiRoutes(router: Router, { access, directory }: RouteOptions): void {
  router.get('/api/cameras', async (ctx) => {
    const grant = access.fromBearer(bearerOf(ctx));
    const now = Date.now();
    ctx.set('Cache-Control', 'no-store');
    ctx.body = (await listCameras(directory))
      .filter((camera) => mayView(grant, camera.id))
      .map((camera) => {
        const { streamUrl, videoUrl, snapshotUrl } = urlsOf(access, camera.id);
        const tiers = camera.tiers ?? ['mjpeg'];
        return {
          id: camera.id,
          width: camera.width,
          height: camera.height,
          fps: camera.fps,
          online: isOnline(camera, now),
          lastFrameAt: camera.lastFrameAt === null ? null : new Date(camera.lastFrameAt).toISOString(),
          sleeping: camera.sleeping,
          sizes: camera.sizes,
          tiers,
          streamUrl,
          // Only where its capture can make it: the viewer page offers H.264 where it is listed.
          ...(tiers.includes('h264') ? { videoUrl } : {}),
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
    ctx.body = { camera: cameraId, ...urlsOf(access, cameraId, allowedTtl(grant, ttl), viewer) };
  });
}

/**
 * A camera's stream (motion JPEG), video (H.264) and snapshot URLs: signed for whoever holds
 * them when access control is on (one signature covers the camera, whichever URL carries it).
 */
function urlsOf(access: AccessControl, cameraId: string, ttlSeconds?: number, viewer?: string) {
  const base = `/cameras/${cameraId}`;
  const signed = access.enabled ? access.sign(cameraId, ttlSeconds, viewer) : null;
  const query = signed ? `?${signed.query}` : '';
  return {
    streamUrl: `${base}/stream.mjpg${query}`,
    videoUrl: `${base}/stream.mp4${query}`,
    snapshotUrl: `${base}/snapshot.jpg${query}`,
    expiresAt: signed ? new Date(signed.expiresAt).toISOString() : null,
  };
}
