/**
 * Gateways without URL_SIGNING_KEY sign URLs with a random key they share through the bus: the
 * first to start stores one, the others adopt it. Offered again on every reconnection and every
 * few seconds, so that after Redis lost it (a restart, no persistence) the gateways agree again
 * on one of theirs; URLs signed with a key that lost are refused, and the viewer page fetches
 * fresh ones.
 */
import type { Logger } from 'pino';
import type { FrameBus } from '@camrelay/bus';
import type { AccessControl } from './access.js';

const SECRET_NAME = 'url-signing-key';
const RESYNC_MS = 5000;

export interface SharedKeyKeeper {
  stop(): void;
}

export async function shareSigningKey(bus: FrameBus, access: AccessControl, log: Logger): Promise<SharedKeyKeeper> {
  const sync = async () => {
    try {
      access.adoptSigningKey(await bus.sharedSecret(SECRET_NAME, access.signingKey));
    } catch (error) {
      // The bus is down: keep signing with the key in use, and agree again once it is back.
      log.debug({ err: (error as Error).message }, 'cannot share the URL signing key yet');
    }
  };
  // At once when the bus is up, else as soon as it is (and again after every reconnection).
  const onUp = () => void sync();
  bus.on('up', onUp);
  if (bus.isUp) await sync();
  const timer = setInterval(() => void sync(), RESYNC_MS);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      bus.off('up', onUp);
    },
  };
}
