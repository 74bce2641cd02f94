/**
 * Reading configuration from the environment: once, at start, with errors that name the
 * variable, what it held and the form it accepts. Below a service's entry point nothing
 * reads process.env; the typed result is passed down.
 */
import { z } from 'zod';
import { CamrelayError } from '@camrelay/errors';
import { hideCredentials } from './credentials.js';

export { hideCredentials } from './credentials.js';
export { redisTarget, redisVariables } from './redis.js';
export type { ParsedSeeds, RedisClusterSeed, RedisTarget } from './redis.js';

/** Variables that stop start-up; the message names each one, what it held and the form it accepts. */
export class ConfigError extends CamrelayError<'invalid_configuration'> {}

export type Env = Readonly<Record<string, string | undefined>>;

/** Parses env with a zod object schema whose keys are variable names. */
export function readConfig<S extends z.ZodType>(schema: S, env: Env): z.infer<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const variable = issue.path.join('.') || 'environment';
    const raw = typeof issue.path[0] === 'string' ? env[issue.path[0]] : undefined;
    // Hidden before it is shortened: a cut may fall after the password but before its "@".
    const value = raw === undefined ? undefined : hideCredentials(raw);
    const shown =
      value === undefined
        ? 'unset'
        : SECRET_VARIABLE.test(variable)
          ? '(hidden)'
          : JSON.stringify(value.length > 120 ? `${value.slice(0, 120)}…` : value);
    return `${variable}=${shown}: ${issue.message}`;
  });
  throw new ConfigError('invalid_configuration', `invalid configuration:\n  ${lines.join('\n  ')}`);
}

/** Variables whose values never appear in an error message (they end up in logs). */
const SECRET_VARIABLE = /(TOKENS?|KEY|SECRET|PASSWORD)$/;

/** An environment value that may be unset or empty (both mean "use the default"). */
export function optional<T extends z.ZodType>(schema: T) {
  return z.preprocess((value) => (value === '' ? undefined : value), schema.optional());
}

export const logLevel = optional(
  z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
    error: 'expected one of fatal, error, warn, info, debug, trace, silent',
  }),
).transform((value) => value ?? 'info');

/** An address to listen on: an IPv4 or IPv6 literal, or a host name. */
export const listenAddress = z.string().regex(/^(?:[0-9.]+|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)$/, {
  error: 'expected an address to listen on, e.g. 127.0.0.1, 0.0.0.0 or ::',
});

/** A size as WIDTHxHEIGHT, each from 16 to 16384. */
export const frameSize = z
  .string()
  .regex(/^\d{2,5}x\d{2,5}$/, { error: 'expected WIDTHxHEIGHT, e.g. 3840x2160' })
  .transform((value) => value.split('x').map(Number) as [number, number])
  .refine(([width, height]) => width >= 16 && height >= 16 && width <= 16384 && height <= 16384, {
    error: 'expected WIDTHxHEIGHT, each from 16 to 16384',
  })
  .transform(([width, height]) => ({ width, height }));

/** An integer in [min, max], given as decimal digits. */
export function integerIn<F extends number | undefined>(min: number, max: number, fallback: F) {
  return optional(
    z
      .string()
      .regex(/^\d+$/, { error: `expected a whole number from ${min} to ${max}` })
      .transform(Number)
      .refine((n) => n >= min && n <= max, { error: `expected a whole number from ${min} to ${max}` }),
  ).transform((value): number | F => value ?? fallback);
}

/**
 * A service's configuration, or start-up stopped (exit code 2) with a message naming the bad
 * variables: the one way every entry point turns a ConfigError into a clear exit.
 */
export function readConfigOrExit<T>(service: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`${service}: ${error.message}`);
    process.exit(2);
  }
}
