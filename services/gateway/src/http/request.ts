/** What a request says, read and checked: credentials, query values, a camera id in the path. */
import type Koa from 'koa';
import { isCameraId } from '@camrelay/frame';
import type { SignedQuery } from './access.js';
import { HttpError } from './errors.js';

export function bearerOf(ctx: Koa.Context): string | undefined {
  return ctx.get('Authorization') || undefined;
}

export function queryValue(raw: string | string[] | undefined): string | undefined {
  return Array.isArray(raw) ? raw[0] : raw;
}

export function signedQueryOf(ctx: Koa.Context): SignedQuery {
  return { exp: queryValue(ctx.query.exp), sig: queryValue(ctx.query.sig), viewer: queryValue(ctx.query.viewer) };
}

export function parseWhole(raw: string | string[] | undefined, name: 'ttl', min: number, max: number): number {
  const value = queryValue(raw);
  const number = value !== undefined && /^\d{1,9}$/.test(value) ? Number(value) : Number.NaN;
  if (!(number >= min && number <= max)) throw new HttpError(400, `bad_${name}`, `${name} must be a whole number from ${min} to ${max}`);
  return number;
}

export function cameraIdOf(raw: string | undefined): string {
  if (raw === undefined || !isCameraId(raw)) {
    throw new HttpError(400, 'bad_camera_id', 'camera ids are 1-64 letters, digits, "_" or "-"');
  }
  return raw;
}
