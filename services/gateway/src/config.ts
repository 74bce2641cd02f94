import { z } from 'zod';
import { integerIn, listenAddress, logLevel, optional, readConfig, redisTarget, redisVariables } from '@camrelay/config';
import type { Env, RedisTarget } from '@camrelay/config';
import { isCameraId } from '@camrelay/frame';
import { SIGNED_URL_TTL_RANGE } from './http/access.js';
import type { TokenGrant } from './http/access.js';
import { GATEWAY_DEFAULTS as D } from './defaults.js';

const TOKEN = /^[A-Za-z0-9._~+/-]{16,256}$/;
const TOKENS_FORM =
  'TOKEN or TOKEN=camera1,camera2, optionally followed by " maxttl=SECONDS"; or "TOKEN scope=metrics"; separated by ";"; a token is 16 or more letters, digits or ._~+/-';

/** One entry, or what is wrong with it (never repeating the token: configuration errors end up in logs). */
function parseTokenEntry(entry: string): TokenGrant | string {
  const [grantText = '', ...options] = entry.split(/\s+/);
  const [token = '', cameraList] = grantText.split('=', 2) as [string, string | undefined];
  if (!TOKEN.test(token)) return `expected ${TOKENS_FORM}`;
  const cameras = cameraList === undefined ? null : cameraList.split(',').map((id) => id.trim());
  if (cameras && !cameras.every(isCameraId)) return 'camera ids are 1-64 letters, digits, "_" or "-"';
  let maxTtlSeconds: number | undefined;
  let metricsOnly = false;
  for (const option of options) {
    const [name, value = ''] = option.split('=', 2);
    if (name === 'maxttl' && maxTtlSeconds === undefined && /^\d{1,9}$/.test(value)) {
      maxTtlSeconds = Number(value);
      const [min, max] = SIGNED_URL_TTL_RANGE;
      if (maxTtlSeconds < min || maxTtlSeconds > max) return `maxttl must be from ${min} to ${max} seconds`;
    } else if (name === 'scope' && value === 'metrics' && !metricsOnly) metricsOnly = true;
    else return `expected ${TOKENS_FORM}`;
  }
  if (metricsOnly && (cameras !== null || maxTtlSeconds !== undefined))
    return 'a scope=metrics token views no camera: give it no cameras and no maxttl';
  return metricsOnly ? { token, cameras: new Set(), metricsOnly } : { token, cameras: cameras ? new Set(cameras) : null, maxTtlSeconds };
}

const apiTokens = optional(
  z.string().transform((value, ctx): TokenGrant[] => {
    const grants: TokenGrant[] = [];
    for (const entry of value
      .split(';')
      .map((part) => part.trim())
      .filter(Boolean)) {
      const grant = parseTokenEntry(entry);
      if (typeof grant === 'string') ctx.addIssue({ code: 'custom', message: `entry ${grants.length + 1}: ${grant}` });
      else if (grants.some((known) => known.token === grant.token))
        ctx.addIssue({ code: 'custom', message: `entry ${grants.length + 1}: the same token appears twice` });
      if (typeof grant !== 'string') grants.push(grant);
    }
    return grants;
  }),
);

/** A CSP source for frame-ancestors: 'self', or an http(s) origin (a "*." subdomain wildcard allowed). */
const FRAME_SOURCE = /^(?:'self'|https?:\/\/(?:\*\.)?[A-Za-z0-9.-]+(?::\d{1,5})?)$/;

const onOff = optional(z.enum(['on', 'off'], { error: 'expected on or off' }));
const yesNo = optional(z.enum(['true', 'false'], { error: 'expected true or false' })).transform((value) => value === 'true');

/** The variables every gateway reads; one on Redis reads redisVariables too. */
export const gatewayVariables = {
  PORT: integerIn(1, 65535, D.port),
  /** The address to listen on; every interface when unset. */
  HOST: optional(listenAddress),
  LOG_LEVEL: logLevel,
  /** Access control: on by default on Redis, off by default embedded (the all-in-one). */
  AUTH: onOff,
  API_TOKENS: apiTokens,
  /** Key for signed stream and snapshot URLs; when unset, a random key the gateways share through Redis. */
  URL_SIGNING_KEY: optional(z.string().min(32, { error: 'expected at least 32 characters' })),
  /** Seconds a signed URL handed out by /api/cameras stays valid. */
  SIGNED_URL_TTL: integerIn(...SIGNED_URL_TTL_RANGE, D.signedUrlTtlSeconds),
  MAX_VIEWERS: integerIn(1, 1_000_000, D.maxViewers),
  MAX_VIEWERS_PER_ADDRESS: integerIn(1, 1_000_000, D.maxViewersPerAddress),
  /** Snapshots (and HEAD requests for streams) per client address and second, with a burst as large. */
  MAX_SNAPSHOTS_PER_ADDRESS: integerIn(1, 1_000_000, D.snapshotsPerAddressPerSecond),
  /** Behind a load balancer: take the client's address from X-Forwarded-For (its last entry). */
  TRUST_PROXY: yesNo,
  /** Origins that may show the viewer page in a frame (a dashboard), separated by spaces; none when unset. */
  FRAME_ANCESTORS: optional(
    z
      .string()
      .transform((value) => value.split(/\s+/).filter((source) => source.length > 0))
      .refine((sources) => sources.every((source) => FRAME_SOURCE.test(source)), {
        error: "expected origins separated by spaces, e.g. https://dash.example.com or 'self'",
      }),
  ).transform((value) => value ?? []),
  /** Envelopes carrying a larger JPEG are dropped unread (the same bound as capture's). */
  MAX_FRAME_BYTES: integerIn(1024, 256 * 1024 * 1024, D.maxFrameBytes),
  /** Seconds without frames before viewers get the NO SIGNAL picture. */
  NO_SIGNAL_AFTER: integerIn(1, 600, D.noSignalAfterMs / 1000),
  /** Seconds a viewer's socket may go without draining before the viewer is cut (a dead link or a stuck client). */
  STUCK_VIEWER_TIMEOUT: integerIn(1, 3600, D.stuckViewerMs / 1000),
  /** Seconds a request's headers may take to arrive (slow clients are cut off). */
  HEADERS_TIMEOUT: integerIn(1, 300, D.headersTimeoutMs / 1000),
  /** On SIGTERM: seconds /readyz reports 503 (and new streams are refused) before the listener closes. */
  SHUTDOWN_DELAY: integerIn(0, 300, undefined),
  /** On SIGTERM: seconds ended streams may take to flush before their sockets are cut. */
  DRAIN_TIMEOUT: integerIn(0, 300, D.drainMs / 1000),
};

/**
 * Where a gateway's frames come from: `redis`, the bus at REDIS_URL or REDIS_CLUSTER_NODES
 * (required); `in-process`, capture in the same process (the all-in-one), where those variables
 * are not read and the defaults are a single machine's (no access control, no shutdown delay).
 */
export type GatewayMode = 'redis' | 'embedded';

/** A gateway started without a bus is most likely someone after the demo. */
const ALL_IN_ONE_HINT = '; for capture and a gateway in one process without Redis, run the all-in-one: `npm start`';

/** The variables' values settled into a configuration: the defaults that depend on the mode applied. */
function settle(config: z.infer<typeof gatewayObject>, mode: GatewayMode, redis: RedisTarget | undefined, ctx: z.RefinementCtx) {
  const embedded = mode === 'embedded';
  const auth = config.AUTH ?? (embedded ? 'off' : 'on');
  if (auth === 'on' && (config.API_TOKENS ?? []).length === 0) {
    ctx.addIssue({
      code: 'custom',
      path: ['API_TOKENS'],
      message: `required while AUTH is on${config.AUTH ? '' : ' (the default with REDIS_URL)'}: ${TOKENS_FORM}; or set AUTH=off to serve every camera to anyone`,
    });
  }
  return {
    ...config,
    mode,
    redis,
    AUTH: auth,
    API_TOKENS: config.API_TOKENS ?? [],
    SHUTDOWN_DELAY: config.SHUTDOWN_DELAY ?? (embedded ? D.shutdownDelayMs : D.distributedShutdownDelayMs) / 1000,
  };
}

const gatewayObject = z.object(gatewayVariables);
const gatewaySchemas = {
  embedded: gatewayObject.transform((config, ctx) => settle(config, 'embedded', undefined, ctx)),
  redis: gatewayObject
    .extend(redisVariables)
    .transform(({ REDIS_URL, REDIS_CLUSTER_NODES, ...config }, ctx) =>
      settle(config, 'redis', redisTarget({ REDIS_URL, REDIS_CLUSTER_NODES }, ctx, true, ALL_IN_ONE_HINT), ctx),
    ),
};

export type GatewayConfig = ReturnType<typeof settle>;

/** A gateway's configuration in the given mode; a ConfigError names every bad variable. */
export function readGatewayConfig(env: Env, mode: GatewayMode): GatewayConfig {
  return readConfig(gatewaySchemas[mode], env);
}
