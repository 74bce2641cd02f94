import { CamrelayError } from '@camrelay/errors';

/**
 * Every `error.code` a gateway answers with, in its JSON body `{"error":{"code","message"}}`.
 * Scripts match on these; docs/http-api.md lists them.
 */
export type HttpErrorCode =
  // 400: a request that cannot be right
  | 'bad_request'
  | 'bad_camera_id'
  | 'bad_fps'
  | 'bad_ttl'
  | 'bad_viewer'
  | 'bad_action'
  | 'bad_size'
  // 401, 403: credentials
  | 'unauthorized'
  | 'forbidden'
  | 'expired'
  | 'ttl_not_allowed'
  // 404, 405, 408, 431, 501: the request itself
  | 'not_found'
  | 'no_cameras'
  | 'unknown_camera'
  | 'method_not_allowed'
  | 'request_timeout'
  | 'headers_too_large'
  | 'not_implemented'
  /** 501: the camera's capture host cannot make the H.264 tier (no ffmpeg with libx264). */
  | 'no_h264'
  // 429: too many requests from one address
  | 'too_many_requests'
  // 503: retry, here or on another gateway
  | 'no_frame'
  | 'bus_unavailable'
  | 'shutting_down'
  | 'not_ready'
  | 'too_many_viewers'
  | 'too_many_viewers_from_address'
  | 'too_many_connections'
  // 500: a bug, logged
  | 'internal';

/** An error a client may see: its status, a stable code for scripts, and a message for people. */
export class HttpError extends CamrelayError<HttpErrorCode> {
  constructor(
    readonly status: number,
    code: HttpErrorCode,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(code, message);
  }
}

export function errorBody(code: HttpErrorCode, message: string): { error: { code: HttpErrorCode; message: string } } {
  return { error: { code, message } };
}

/**
 * What a failed request answers: our HttpErrors as they are, and the http-errors that Koa and
 * the router throw (405, 501, 400 on bad URLs) mapped to codes. Anything else is a bug: null,
 * which the app answers with 500 `internal` and logs.
 */
export function toHttpError(error: unknown): HttpError | null {
  if (error instanceof HttpError) return error;
  const { status, expose, message } = (error ?? {}) as { status?: unknown; expose?: unknown; message?: unknown };
  if (typeof status === 'number' && status >= 400 && status < 500 && expose === true) {
    return new HttpError(status, 'bad_request', typeof message === 'string' ? message : 'bad request');
  }
  if (status === 501) return new HttpError(501, 'not_implemented', 'method not implemented');
  return null;
}

export const busUnavailable = () =>
  new HttpError(503, 'bus_unavailable', 'the frame bus is not reachable; retry shortly', { 'Retry-After': '1' });

export const shuttingDown = () => new HttpError(503, 'shutting_down', 'this gateway is shutting down; retry', { 'Retry-After': '1' });
