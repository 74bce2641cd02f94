/**
 * Requests to a load balancer that serves a certificate of its own (self-signed, made at first
 * start), trusted for these requests only: fetch has no way to be told of one.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import { connect } from 'node:tls';

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** GET over HTTPS (HTTP/1.1), trusting `ca`. */
export function httpsGet(url: string, { ca, headers = {} }: { ca: string; headers?: Record<string, string> }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    request(url, { ca, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

/**
 * The protocol a TLS handshake settles on (ALPN) when the client offers `offered`, and the TLS
 * version; rejects when the server refuses the handshake (say, below its minimum version).
 */
export function handshake(
  host: string,
  port: number,
  { ca, offered = ['h2', 'http/1.1'], maxVersion }: { ca: string; offered?: string[]; maxVersion?: 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3' },
): Promise<{ alpn: string | false; version: string | null }> {
  return new Promise((resolve, reject) => {
    const socket = connect(
      { host, port, ca, ALPNProtocols: offered, servername: host, ...(maxVersion ? { maxVersion, minVersion: 'TLSv1' } : {}) },
      () => {
        resolve({ alpn: socket.alpnProtocol ?? false, version: socket.getProtocol() });
        socket.end();
      },
    );
    socket.on('error', reject);
  });
}

/** Chromium's --ignore-certificate-errors-spki-list value for a certificate: base64 SHA-256 of its public key. */
export function spkiHash(certificate: string): string {
  const spki = new X509Certificate(certificate).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}
