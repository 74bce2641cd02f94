/**
 * Where the bus is: one Redis (REDIS_URL) or a Redis Cluster (REDIS_CLUSTER_NODES), never both.
 */
import { z } from 'zod';

/** One seed node of a Redis Cluster; the client learns the others from it. */
export interface RedisClusterSeed {
  readonly host: string;
  readonly port: number;
}

export type RedisTarget =
  | { readonly kind: 'single'; readonly url: string }
  | {
      readonly kind: 'cluster';
      readonly seeds: readonly RedisClusterSeed[];
      readonly username?: string;
      readonly password?: string;
      readonly tls: boolean;
    };

const unsetWhenEmpty = (value: unknown) => (value === '' ? undefined : value);

const redisUrl = z
  .string({ error: 'required: a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379' })
  .refine((value) => /^rediss?:\/\/[^\s]+$/.test(value) && URL.canParse(value), {
    error: 'expected a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379',
  });

const SEEDS_FORM =
  'expected host:port seed nodes separated by ",", e.g. 10.0.0.1:6379,10.0.0.2:6379; written as redis:// or rediss:// URLs when the cluster wants a password or TLS';

export interface ParsedSeeds {
  readonly seeds: RedisClusterSeed[];
  readonly username?: string;
  readonly password?: string;
  readonly tls: boolean;
}

/**
 * `host:port` entries, or `redis[s]://[user:password@]host:port` entries when the cluster
 * needs credentials or TLS: every URL entry must then say the same, and plain entries share it.
 */
const redisClusterNodes = z.string().transform((value, ctx): ParsedSeeds => {
  const seeds: RedisClusterSeed[] = [];
  const settings = new Set<string>();
  let parsed: Omit<ParsedSeeds, 'seeds'> = { tls: false };
  for (const [index, entry] of value
    .split(',')
    .map((part) => part.trim())
    .entries()) {
    const isUrl = /^rediss?:\/\//.test(entry);
    const withScheme = isUrl ? entry : `redis://${entry}`;
    const url = URL.canParse(withScheme) ? new URL(withScheme) : null;
    const port = Number(url?.port);
    if (!url || !url.hostname || !Number.isInteger(port) || port < 1 || (url.pathname !== '' && url.pathname !== '/')) {
      // The entry is not repeated: it may hold a password, and errors end up in logs.
      ctx.addIssue({ code: 'custom', message: `entry ${index + 1}: ${SEEDS_FORM}` });
      continue;
    }
    seeds.push({ host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port });
    if (isUrl) {
      parsed = {
        tls: url.protocol === 'rediss:',
        ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
        ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
      };
      settings.add(JSON.stringify(parsed));
    }
  }
  if (settings.size > 1)
    ctx.addIssue({ code: 'custom', message: 'the URL entries differ in scheme, user or password: a cluster has one of each' });
  return { ...parsed, seeds };
});

/** The two variables; `redisTarget` turns what they held into one target. */
export const redisVariables = {
  REDIS_URL: z.preprocess(unsetWhenEmpty, redisUrl.optional()),
  REDIS_CLUSTER_NODES: z.preprocess(unsetWhenEmpty, redisClusterNodes.optional()),
};

type RedisVariables = { REDIS_URL?: string | undefined; REDIS_CLUSTER_NODES?: ParsedSeeds | undefined };

/**
 * The target the variables name, or undefined when neither is set (an error when `required`).
 * Call it from a schema's transform, so that its issues name the variables like any other.
 */
export function redisTarget(config: RedisVariables, ctx: z.RefinementCtx, required: boolean, hint = ''): RedisTarget | undefined {
  const { REDIS_URL: url, REDIS_CLUSTER_NODES: cluster } = config;
  if (url !== undefined && cluster !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['REDIS_CLUSTER_NODES'],
      message: 'set REDIS_URL (one Redis) or REDIS_CLUSTER_NODES (a Redis Cluster), not both',
    });
    return undefined;
  }
  if (url !== undefined) return { kind: 'single', url };
  if (cluster !== undefined) return { kind: 'cluster', ...cluster };
  if (required)
    ctx.addIssue({
      code: 'custom',
      path: ['REDIS_URL'],
      message: `required: a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379 (or REDIS_CLUSTER_NODES for a Redis Cluster)${hint}`,
    });
  return undefined;
}
