/**
 * The load balancer's TLS certificate. HAProxy loads every certificate in one directory
 * (`crt <dir>`): whatever the operator put there (a real certificate, or one an ACME client
 * renews), or else a self-signed one made here at first start, so that `docker compose up`
 * serves HTTPS without a step before it.
 */
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generate } from 'selfsigned';

/** The self-signed certificate's file (the certificate alone: also the file to trust). */
export const SELF_SIGNED_FILE = 'camrelay.pem';

/** What the directory holds for HAProxy, and whether it was made now. */
export interface CertificateDirectory {
  /** The certificate files HAProxy will load (`*.pem`, `*.crt`), by name. */
  certificates: string[];
  /** A self-signed certificate was made now, for `names`. */
  made: boolean;
  /** SHA-256 fingerprint of the certificate made now. */
  fingerprint?: string;
}

/**
 * Makes a self-signed certificate for `names` (DNS names or IP addresses) in `directory`, unless
 * it already holds a certificate. The key goes beside it as `camrelay.pem.key`, where HAProxy
 * looks for a certificate's key (and never loads it as a certificate itself). `keyMode`: the key
 * file's permissions; 0o600 unless HAProxy runs as another user than this process.
 */
export async function ensureCertificate(
  directory: string,
  names: readonly string[],
  { keyMode = 0o600, days = 825 }: { keyMode?: number; days?: number } = {},
): Promise<CertificateDirectory> {
  await mkdir(directory, { recursive: true });
  const certificates = (await readdir(directory)).filter((name) => /\.(pem|crt)$/.test(name)).sort();
  if (certificates.length > 0) return { certificates, made: false };
  if (names.length === 0) throw new Error('a self-signed certificate needs at least one host name or address');
  const notBeforeDate = new Date(Date.now() - 60_000); // a clock a little behind still accepts it
  const pems = await generate([{ name: 'commonName', value: names[0]! }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    // 825 days: the longest a TLS server certificate may last that Apple's systems accept.
    notAfterDate: new Date(notBeforeDate.getTime() + days * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: names.map((name) => (isIP(name) ? { type: 7, ip: name } : { type: 2, value: name })) },
    ],
  });
  // The key first: HAProxy must never find the certificate without its key.
  await writeFile(join(directory, `${SELF_SIGNED_FILE}.key`), pems.private, { mode: keyMode });
  await writeFile(join(directory, SELF_SIGNED_FILE), pems.cert, { mode: 0o644 });
  return { certificates: [SELF_SIGNED_FILE], made: true, fingerprint: new X509Certificate(pems.cert).fingerprint256 };
}

/** The names a self-signed certificate is made for when TLS_NAMES is unset. */
export const DEFAULT_TLS_NAMES = ['localhost', '127.0.0.1', '::1'];

/** A DNS name (a leading `*.` allowed) or an IP address. */
const HOST_NAME = /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/**
 * TLS_NAMES: the names and addresses (comma-separated) clients use to reach the load balancer,
 * for a self-signed certificate; unset, this machine's (`DEFAULT_TLS_NAMES` and `extraNames`).
 * A bad name stops start-up with a message naming the variable.
 */
export function tlsSettings(env: Readonly<Record<string, string | undefined>>, extraNames: readonly string[] = []): { names: string[] } {
  const text = env.TLS_NAMES?.trim();
  if (!text) return { names: [...new Set([...DEFAULT_TLS_NAMES, ...extraNames.filter((name) => HOST_NAME.test(name))])] };
  const names = text.split(',').map((name) => name.trim());
  const bad = names.filter((name) => !(isIP(name) || HOST_NAME.test(name)));
  if (bad.length > 0 || names.length === 0)
    throw new Error(
      `TLS_NAMES=${JSON.stringify(text)}: ${bad.map((name) => JSON.stringify(name)).join(', ')} is not a host name or IP address; expected names and addresses separated by commas, e.g. cams.example.org,192.168.1.20`,
    );
  return { names: [...new Set(names)] };
}

/**
 * What to say when a self-signed certificate was made: for which names, its fingerprint, how
 * to trust it, and how to replace it. `copy` is the command that gets the certificate file to
 * where the browser runs (a container's file), if it is not there already.
 */
export function certificateMade(directory: string, names: readonly string[], fingerprint: string, copy?: string): string {
  const file = copy ? SELF_SIGNED_FILE : `${directory.replace(/\/$/, '')}/${SELF_SIGNED_FILE}`;
  return [
    `made a self-signed certificate for ${names.join(', ')} in ${directory} (SHA-256 ${fingerprint}); browsers warn until it is trusted.`,
    ...(copy ? [`Copy it out: ${copy}`] : []),
    `Trust it on Debian or Ubuntu: sudo cp ${file} /usr/local/share/ca-certificates/camrelay.crt && sudo update-ca-certificates;`,
    `in Chrome or Chromium on Linux: certutil -d sql:$HOME/.pki/nssdb -A -t P,, -n camrelay -i ${file};`,
    `in Firefox: Settings, Certificates, View Certificates, Servers, Import.`,
    `Or replace it: put your certificate with its key (NAME.pem, or NAME.pem and NAME.pem.key) in ${directory} instead.`,
  ].join('\n  ');
}
