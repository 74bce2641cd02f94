/**
 * `npm run rotate-signing-key`: gives the gateways on REDIS_URL (or REDIS_CLUSTER_NODES) a new
 * shared URL signing key. Within SIGNING_KEY_RESYNC_MS (5 s) every gateway signs with it and
 * refuses URLs signed with the old one; the viewer page fetches fresh URLs by itself. Gateways
 * started with URL_SIGNING_KEY never read the key in Redis: rotate theirs by changing it and
 * restarting them.
 */
import { once } from 'node:events';
import { z } from 'zod';
import { redisBusFor } from '@camrelay/bus';
import { readConfig, readConfigOrExit, redisTarget, redisVariables } from '@camrelay/config';
import { SIGNING_KEY_RESYNC_MS, rotateSigningKey } from './shared-state/shared-signing-key.js';

const target = readConfigOrExit('rotate-signing-key', () =>
  readConfig(
    z.object(redisVariables).transform((config, ctx) => redisTarget(config, ctx, true)!),
    process.env,
  ),
);
const CONNECT_TIMEOUT_MS = 10_000;
let lastError: Error | undefined;
const bus = redisBusFor(target, (error) => (lastError = error));
try {
  if (!bus.isUp) {
    const up = once(bus, 'up', { signal: AbortSignal.timeout(CONNECT_TIMEOUT_MS) });
    await up.catch(() => {
      throw new Error(`no connection to Redis within ${CONNECT_TIMEOUT_MS / 1000} s${lastError ? ` (${lastError.message})` : ''}`);
    });
  }
  await rotateSigningKey(bus);
  console.log(`URL signing key replaced: gateways refuse URLs signed with the old one within ${SIGNING_KEY_RESYNC_MS / 1000} s`);
} catch (error) {
  console.error(`rotate-signing-key: the key was not replaced: ${(error as Error).message}`);
  process.exitCode = 1;
} finally {
  await bus.close();
}
