/**
 * docker compose's `tls` service: runs once before the load balancer starts. It checks the load
 * balancer's TLS variables (HAProxy cannot say which one is wrong) and makes a self-signed
 * certificate in /certs unless one is there, then exits; `lb` starts only when it succeeded.
 */
import { certificateMade, ensureCertificate, tlsSettings } from './index.js';

const DIRECTORY = process.argv[2] ?? '/certs';

try {
  const maxAge = process.env.HSTS_MAX_AGE?.trim();
  if (maxAge && !/^\d{1,9}$/.test(maxAge))
    throw new Error(
      `HSTS_MAX_AGE=${JSON.stringify(maxAge)}: expected seconds (a whole number, e.g. 31536000 for a year), or unset for no HSTS`,
    );
  const { names } = tlsSettings(process.env);
  // HAProxy runs as another user (the haproxy image's) and must read the key; the volume is
  // mounted by this service and the load balancer only.
  const result = await ensureCertificate(DIRECTORY, names, { keyMode: 0o644 });
  console.log(
    result.made
      ? certificateMade(
          DIRECTORY,
          names,
          result.fingerprint!,
          `docker compose cp lb:${DIRECTORY}/camrelay.pem . (docker-compose 1.x: docker cp "$(docker-compose ps -q lb)":${DIRECTORY}/camrelay.pem .)`,
        )
      : `tls: using ${result.certificates.join(', ')} in ${DIRECTORY}`,
  );
} catch (error) {
  const { code, message } = error as NodeJS.ErrnoException;
  console.error(
    code === 'EACCES' || code === 'EROFS'
      ? `tls: ${DIRECTORY} holds no certificate and this service (uid ${process.getuid?.()}) cannot write one there (${message}): put your certificate in it, or make it writable`
      : `tls: ${message}`,
  );
  process.exit(1);
}
