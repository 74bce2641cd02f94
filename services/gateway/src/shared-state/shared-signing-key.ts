/**
 * Gateways without URL_SIGNING_KEY sign URLs with a random key they share through the bus: the
 * first to start stores one, the others adopt it. Offered again on every reconnection and every
 * SIGNING_KEY_RESYNC_MS, so that after Redis lost it (a restart, no persistence) the running
 * gateways store the key they share again and its URLs stay valid; where they held different
 * keys (one started while Redis was away) they agree on one of theirs, URLs signed with a key
 * that lost are refused, and the viewer page fetches fresh ones.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { FrameBus } from '@camrelay/bus';

const SECRET_NAME = 'url-signing-key';
/** How soon every gateway follows a rotation (and agrees again after Redis lost the key). */
export const SIGNING_KEY_RESYNC_MS = 5000;

/** Whoever signs URLs (the gateway's AccessControl): the key it signs with, and taking another. */
export interface SigningKeyHolder {
  readonly signingKey: string;
  /** False if it is the key in use already. */
  adoptSigningKey(text: string): boolean;
}

export interface SharedKeyKeeper {
  stop(): void;
}

export async function shareSigningKey(bus: FrameBus, access: SigningKeyHolder, log: Logger): Promise<SharedKeyKeeper> {
  const sync = async () => {
    try {
      if (access.adoptSigningKey(await bus.sharedSecret(SECRET_NAME, access.signingKey)))
        log.info('URL signing key changed: URLs signed with the old one are refused');
    } catch (error) {
      // The bus is down: keep signing with the key in use, and agree again once it is back.
      log.debug({ err: (error as Error).message }, 'cannot share the URL signing key yet');
    }
  };
  // At once when the bus is up, else as soon as it is (and again after every reconnection).
  const onUp = () => void sync();
  bus.on('up', onUp);
  if (bus.isUp) await sync();
  const timer = setInterval(() => void sync(), SIGNING_KEY_RESYNC_MS);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      bus.off('up', onUp);
    },
  };
}

/**
 * Replaces the shared key (`npm run rotate-signing-key`): within SIGNING_KEY_RESYNC_MS every
 * gateway signs with the new one and refuses URLs signed with the old.
 */
export async function rotateSigningKey(bus: FrameBus): Promise<void> {
  await bus.replaceSharedSecret(SECRET_NAME, randomBytes(32).toString('base64url'));
}
