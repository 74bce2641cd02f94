import Koa from 'koa';
import { Router } from '@koa/router';
import type { Logger } from 'pino';
import { CameraDirectory } from '../shared-state/camera-directory.js';
import type { AppOptions } from './app-options.js';
import { HttpError, errorBody, toHttpError } from './errors.js';
import { apiRoutes } from './routes/api.js';
import { dropInRoutes } from './routes/drop-in.js';
import { healthRoutes } from './routes/health.js';
import { streamRoutes } from './routes/streams.js';

const GONE_CLIENT = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE']);

/** Routes and middleware only; the fan-out lives in fanout/ and knows nothing of Koa. */
export function createApp(options: AppOptions): Koa {
  const app = new Koa({ proxy: options.trustProxy, maxIpsCount: 1 });
  app.on('error', logUnlessGone(options.log));
  app.use(answerErrors(options.log));
  const routes = { ...options, directory: new CameraDirectory(options.bus) };
  const router = new Router();
  const streams = streamRoutes(router, routes);
  apiRoutes(router, routes);
  dropInRoutes(router, routes, streams);
  healthRoutes(router, routes);
  app.use(router.routes());
  app.use(router.allowedMethods({ throw: true, methodNotAllowed: () => new HttpError(405, 'method_not_allowed', 'method not allowed') }));
  return app;
}

/**
 * Replaces Koa's default, which prints a stack trace to stderr for every viewer that resets
 * its connection mid-stream: routine for a stream server, and thousands an hour.
 */
function logUnlessGone(log: Logger) {
  return (error: NodeJS.ErrnoException, ctx?: Koa.Context) => {
    if (error.code !== undefined && GONE_CLIENT.has(error.code)) return;
    log.warn({ err: error, path: ctx?.path }, 'request error');
  };
}

/** The one error handler: an HttpError answers as it says, anything else is a bug, logged and answered 500. */
function answerErrors(log: Logger): Koa.Middleware {
  return async (ctx, next) => {
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
  };
}
