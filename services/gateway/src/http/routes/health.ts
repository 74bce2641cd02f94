/** For whoever runs the gateway: `/healthz` (alive), `/readyz` (send viewers here) and `/metrics`. */
import type { Router } from '@koa/router';
import { forbidden } from '../access.js';
import type { RouteOptions } from '../app-options.js';
import { errorBody } from '../errors.js';
import { bearerOf } from '../request.js';

export function healthRoutes(router: Router, { bus, access, limits, metrics, accepting }: RouteOptions): void {
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });

  router.get('/readyz', (ctx) => {
    // Not ready means "send new viewers elsewhere": no bus, shutting down, or no room left.
    const reason = !bus.isUp ? 'frame bus not connected' : !accepting() ? 'shutting down' : limits.full ? 'at its viewer limit' : null;
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
}
