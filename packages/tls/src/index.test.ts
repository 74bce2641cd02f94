import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DEFAULT_TLS_NAMES, SELF_SIGNED_FILE, ensureCertificate, tlsSettings } from './index.js';

describe('the load balancer certificate', () => {
  const dirs: string[] = [];
  const dir = () => {
    const made = mkdtempSync(join(tmpdir(), 'camrelay-tls-'));
    dirs.push(made);
    return made;
  };
  after(() => dirs.forEach((made) => rmSync(made, { recursive: true, force: true })));

  it('makes a self-signed certificate for the names, with its key beside it, and keeps it on the next start', async () => {
    const certificates = dir();
    const made = await ensureCertificate(certificates, ['cams.example.org', '192.168.1.20', '::1']);
    assert.equal(made.made, true);
    const pem = readFileSync(join(certificates, SELF_SIGNED_FILE), 'utf8');
    const certificate = new X509Certificate(pem);
    assert.equal(certificate.fingerprint256, made.fingerprint);
    assert.equal(certificate.subjectAltName, 'DNS:cams.example.org, IP Address:192.168.1.20, IP Address:0:0:0:0:0:0:0:1');
    assert.ok(certificate.checkHost('cams.example.org') && certificate.checkIP('192.168.1.20'));
    assert.equal(certificate.ca, false, 'a server certificate, not an authority');
    assert.ok(certificate.verify(certificate.publicKey), 'signed by its own key');
    assert.ok(new Date(certificate.validFrom) <= new Date() && new Date(certificate.validTo) > new Date(Date.now() + 800 * 86_400_000));
    const key = createPrivateKey(readFileSync(join(certificates, `${SELF_SIGNED_FILE}.key`)));
    assert.equal(
      createPublicKey(key).export({ type: 'spki', format: 'pem' }),
      certificate.publicKey.export({ type: 'spki', format: 'pem' }),
      'the key is the certificate’s',
    );
    assert.equal(statSync(join(certificates, `${SELF_SIGNED_FILE}.key`)).mode & 0o777, 0o600);
    assert.deepEqual(await ensureCertificate(certificates, ['other.example.org']), { certificates: [SELF_SIGNED_FILE], made: false });
    assert.equal(readFileSync(join(certificates, SELF_SIGNED_FILE), 'utf8'), pem, 'the same certificate: trusted once, trusted after');
  });

  it('makes none where the operator put a certificate of their own', async () => {
    const certificates = dir();
    writeFileSync(join(certificates, 'cams.example.org.pem'), 'a certificate and its key');
    assert.deepEqual(await ensureCertificate(certificates, ['localhost']), { certificates: ['cams.example.org.pem'], made: false });
  });

  it('reads TLS_NAMES, and names the variable when a name is bad', () => {
    assert.deepEqual(tlsSettings({}, ['camhost']), { names: [...DEFAULT_TLS_NAMES, 'camhost'] });
    assert.deepEqual(tlsSettings({ TLS_NAMES: ' cams.example.org, 10.0.0.5 ,*.cams.example.org' }), {
      names: ['cams.example.org', '10.0.0.5', '*.cams.example.org'],
    });
    assert.throws(
      () => tlsSettings({ TLS_NAMES: 'cams.example.org,not a name' }),
      /^Error: TLS_NAMES="cams\.example\.org,not a name": "not a name" is not a host name/,
    );
    assert.throws(() => tlsSettings({ TLS_NAMES: 'a,,b' }), /TLS_NAMES/);
  });
});
