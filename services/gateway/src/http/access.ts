import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { HttpError } from './errors.js';

/**
 * One entry of API_TOKENS: a secret, the cameras it may view (null: all of them), the longest
 * signed URL it may ask for, and whether it may read /metrics.
 */
export interface TokenGrant {
  readonly token: string;
  readonly cameras: ReadonlySet<string> | null;
  /** Seconds; undefined: SIGNED_URL_TTL. */
  readonly maxTtlSeconds?: number;
  /** A token for every camera reads /metrics too; `scope=metrics` reads /metrics and views nothing. */
  readonly metricsOnly?: boolean;
}

/** What a request may see: every camera (null) or some. */
export interface Grant {
  readonly cameras: ReadonlySet<string> | null;
  /** The longest signed URL a bearer of this grant may ask for, in seconds (API_TOKENS maxttl, else SIGNED_URL_TTL). */
  readonly maxTtlSeconds?: number;
  /** May read /metrics, whose labels name every camera: a token for all of them, or one of scope=metrics. */
  readonly metrics?: boolean;
  /** The viewer a signed URL was made for, if any: shown in logs, never trusted for access. */
  readonly viewer?: string;
  /** When a signed URL's access ends (ms since the epoch): its stream is ended then. */
  readonly expiresAt?: number;
}

export interface AccessOptions {
  readonly enabled: boolean;
  readonly tokens: readonly TokenGrant[];
  /**
   * Shared by every gateway so that any of them accepts another's URLs (URL_SIGNING_KEY). When
   * unset, a random key until the gateway adopts the one its bus shares (adoptSigningKey).
   */
  readonly signingKey?: string;
  /** Lifetime of the URLs /api/cameras hands out. */
  readonly ttlSeconds: number;
}

/** Query parameters of a signed URL. */
export interface SignedQuery {
  readonly exp?: string;
  readonly sig?: string;
  readonly viewer?: string;
}

/** Bounds of a signed URL's lifetime, in seconds: ten seconds to a week. */
export const SIGNED_URL_TTL_RANGE = [10, 7 * 24 * 3600] as const;

const EVERYTHING: Grant = { cameras: null, metrics: true };
const VIEWER_ID = /^[A-Za-z0-9._@-]{1,64}$/;
/** How far apart the clocks of the gateway that signed and the one that checks may be. */
const CLOCK_SKEW_SECONDS = 60;

export const unauthorized = () =>
  new HttpError(401, 'unauthorized', 'an API token (Authorization: Bearer …) or a signed URL is required', {
    'WWW-Authenticate': 'Bearer realm="camrelay"',
  });
// One answer for a camera that exists but is not granted and one that does not exist, so that
// trying names tells a caller nothing.
export const forbidden = () => new HttpError(403, 'forbidden', 'these credentials do not allow this');

/**
 * Bearer tokens for the API, and signed, expiring URLs for streams and snapshots: an <img src>
 * cannot send a header, and a token in a URL would end up in logs and browser history. The
 * signature is an HMAC over camera, expiry and viewer id, so a URL opens one camera until it
 * expires and cannot be edited into another.
 */
export class AccessControl {
  readonly enabled: boolean;
  readonly ttlSeconds: number;
  /** By SHA-256 of the token: a lookup that does not compare secrets byte by byte. */
  private readonly grants = new Map<string, Grant>();
  /** The key as configured or shared, and the HMAC key made from it. */
  private key!: { readonly text: string; readonly hmac: Buffer };
  /** URL_SIGNING_KEY was given: the key is not the bus's to choose. */
  readonly hasConfiguredKey: boolean;
  /** Streams opened through a signed URL, counted by the stream route (camrelay_signed_streams_opened_total). */
  signedStreamsOpened = 0;

  constructor(options: AccessOptions) {
    this.enabled = options.enabled;
    this.ttlSeconds = options.ttlSeconds;
    // A token mints URLs as long-lived as SIGNED_URL_TTL unless granted more: a leaked viewing
    // token must not turn into week-long URLs that outlive its revocation.
    for (const { token, cameras, maxTtlSeconds, metricsOnly } of options.tokens)
      this.grants.set(sha256(token), {
        cameras,
        maxTtlSeconds: maxTtlSeconds ?? options.ttlSeconds,
        metrics: metricsOnly ?? cameras === null,
      });
    // Never derived from the tokens: whoever knows them (or one camera-limited token of a
    // single-token deployment) could sign URLs for every camera, and every URL handed out
    // would allow guessing the tokens offline.
    this.hasConfiguredKey = options.signingKey !== undefined;
    this.adoptSigningKey(options.signingKey ?? randomBytes(32).toString('base64url'));
  }

  /** The key URLs are signed with now; a gateway offers it to its bus as the shared one. */
  get signingKey(): string {
    return this.key.text;
  }

  /** False if it is the key in use already. */
  adoptSigningKey(text: string): boolean {
    if (this.key?.text === text) return false;
    this.key = { text, hmac: createHmac('sha256', 'camrelay signed URL key').update(text).digest() };
    return true;
  }

  /** The grant of an API request: its bearer token. Everything when access control is off. */
  fromBearer(authorization: string | undefined): Grant {
    if (!this.enabled) return EVERYTHING;
    const token = /^Bearer +(\S+)\s*$/i.exec(authorization ?? '')?.[1];
    const grant = token === undefined ? undefined : this.grants.get(sha256(token));
    if (!grant) throw unauthorized();
    return grant;
  }

  /** The grant of a stream or snapshot request for one camera: a bearer token, or a signed URL. */
  forCamera(cameraId: string, authorization: string | undefined, query: SignedQuery): Grant {
    if (!this.enabled) return EVERYTHING;
    if (authorization !== undefined || query.sig === undefined) {
      const grant = this.fromBearer(authorization);
      if (!mayView(grant, cameraId)) throw forbidden();
      return grant;
    }
    const { exp, sig, viewer } = query;
    if (exp === undefined || !/^\d{1,12}$/.test(exp) || (viewer !== undefined && !VIEWER_ID.test(viewer))) throw forbidden();
    // No URL lives longer than the longest lifetime allowed, whoever signed it.
    if (Number(exp) * 1000 > Date.now() + (SIGNED_URL_TTL_RANGE[1] + CLOCK_SKEW_SECONDS) * 1000) throw forbidden();
    // Compared as text, so only the form sign() writes passes: Node's base64url decoder skips
    // what it does not know, and the last character's spare bits decode alike.
    const expected = Buffer.from(this.signature(cameraId, Number(exp), viewer).toString('base64url'));
    const given = Buffer.from(sig);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw forbidden();
    // Checked after the signature, so that only a genuine URL learns it has expired.
    if (Number(exp) * 1000 < Date.now()) throw new HttpError(403, 'expired', 'this URL has expired; get a new one from /api/cameras');
    return { cameras: new Set([cameraId]), viewer, expiresAt: Number(exp) * 1000 };
  }

  /** The query string ("exp=…&sig=…") that lets anyone holding it view one camera until it expires. */
  sign(cameraId: string, ttlSeconds = this.ttlSeconds, viewer?: string): { query: string; expiresAt: number } {
    const exp = Math.floor(Date.now() / 1000) + ttlSeconds;
    const params = new URLSearchParams({ exp: String(exp) });
    if (viewer !== undefined) params.set('viewer', viewer);
    params.set('sig', this.signature(cameraId, exp, viewer).toString('base64url'));
    return { query: params.toString(), expiresAt: exp * 1000 };
  }

  private signature(cameraId: string, exp: number, viewer: string | undefined): Buffer {
    return createHmac('sha256', this.key.hmac)
      .update(`v1\n${cameraId}\n${exp}\n${viewer ?? ''}`)
      .digest();
  }
}

/** The lifetime a grant may sign a URL for: at most its cap (403 ttl_not_allowed beyond it). */
export function allowedTtl(grant: Grant, ttlSeconds: number): number {
  const cap = grant.maxTtlSeconds ?? SIGNED_URL_TTL_RANGE[1];
  if (ttlSeconds > cap) throw new HttpError(403, 'ttl_not_allowed', `this token may ask for URLs valid for at most ${cap} s`);
  return ttlSeconds;
}

export function mayView(grant: Grant, cameraId: string): boolean {
  return grant.cameras === null || grant.cameras.has(cameraId);
}

export function isViewerId(value: string): boolean {
  return VIEWER_ID.test(value);
}

function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}
