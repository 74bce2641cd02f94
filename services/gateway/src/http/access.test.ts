import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createHmac } from 'node:crypto';
import { AccessControl, SIGNED_URL_TTL_RANGE } from './access.js';
import { HttpError } from './errors.js';

const tokens = [
  { token: 'admin-token-0123456789', cameras: null },
  { token: 'lab-token-0123456789ab', cameras: new Set(['lab']) },
];
const access = new AccessControl({ enabled: true, tokens, ttlSeconds: 60 });
const query = (signed: string) => Object.fromEntries(new URLSearchParams(signed));

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof HttpError);
    return `${error.status} ${error.code}`;
  }
  return 'allowed';
}

describe('AccessControl', () => {
  it('reads bearer tokens, in any case of the scheme, and refuses anything else with 401', () => {
    assert.equal(access.fromBearer('Bearer admin-token-0123456789').cameras, null);
    assert.deepEqual(access.fromBearer('bearer  lab-token-0123456789ab').cameras, new Set(['lab']));
    for (const header of [
      undefined,
      '',
      'Bearer',
      'Basic YWRtaW46eA==',
      'Bearer admin-token-012345678',
      'Bearer admin-token-0123456789 x',
    ]) {
      assert.equal(
        refusal(() => access.fromBearer(header)),
        '401 unauthorized',
        String(header),
      );
    }
  });

  it('lets a signed URL open its camera only, until it expires', () => {
    const signed = query(access.sign('lab', 60, 'alice').query);
    assert.deepEqual(access.forCamera('lab', undefined, signed), {
      cameras: new Set(['lab']),
      viewer: 'alice',
      expiresAt: Number(signed.exp) * 1000,
    });
    assert.equal(
      refusal(() => access.forCamera('yard', undefined, signed)),
      '403 forbidden',
    );
    assert.equal(
      refusal(() => access.forCamera('lab', undefined, { ...signed, viewer: 'bob' })),
      '403 forbidden',
    );
    assert.equal(
      refusal(() => access.forCamera('lab', undefined, { ...signed, viewer: undefined })),
      '403 forbidden',
    );
    assert.equal(
      refusal(() => access.forCamera('lab', undefined, { ...signed, exp: String(Number(signed.exp) + 1) })),
      '403 forbidden',
    );
    assert.equal(
      refusal(() => access.forCamera('lab', undefined, { ...signed, sig: signed.sig!.slice(1) })),
      '403 forbidden',
    );
    assert.equal(
      refusal(() => access.forCamera('lab', undefined, query(access.sign('lab', -1).query))),
      '403 expired',
    );
  });

  it('does not accept URLs signed with another key', () => {
    const other = new AccessControl({ enabled: true, tokens: [tokens[0]!], ttlSeconds: 60 });
    const signed = query(other.sign('lab').query);
    assert.equal(
      refusal(() => access.forCamera('lab', undefined, signed)),
      '403 forbidden',
    );
    const shared = { enabled: true, tokens: [tokens[0]!], ttlSeconds: 60, signingKey: 'k'.repeat(32) };
    assert.equal(
      refusal(() =>
        new AccessControl(shared).forCamera('lab', undefined, query(new AccessControl({ ...shared, tokens }).sign('lab').query)),
      ),
      'allowed',
    );
  });

  it('never derives its key from the tokens: knowing them signs nothing', () => {
    const sameTokens = new AccessControl({ enabled: true, tokens, ttlSeconds: 60 });
    assert.equal(
      refusal(() => access.forCamera('lab', undefined, query(sameTokens.sign('lab').query))),
      '403 forbidden',
    );
    // The key 0.3 made from the token list, and a URL signed with it.
    const derived = createHmac('sha256', 'camrelay signed URL key')
      .update(
        tokens
          .map(({ token }) => token)
          .sort()
          .join('\n'),
      )
      .digest();
    const exp = Math.floor(Date.now() / 1000) + 60;
    const sig = createHmac('sha256', derived).update(`v1\nlab\n${exp}\n`).digest('base64url');
    assert.equal(
      refusal(() => access.forCamera('lab', undefined, { exp: String(exp), sig })),
      '403 forbidden',
    );
  });

  it('accepts only the signature as sign() writes it, and no lifetime beyond the longest allowed', () => {
    const signed = query(access.sign('lab').query);
    const sig = signed.sig!;
    assert.equal(
      refusal(() => access.forCamera('lab', undefined, signed)),
      'allowed',
    );
    assert.equal(
      refusal(() => access.forCamera('lab', undefined, { ...signed, sig: `${sig}A` })),
      '403 forbidden',
    );
    assert.equal(
      refusal(() => access.forCamera('lab', undefined, { ...signed, sig: `${sig}=` })),
      '403 forbidden',
    );
    assert.equal(
      refusal(() => access.forCamera('lab', undefined, { ...signed, sig: `${sig.slice(0, 20)}.${sig.slice(20)}` })),
      '403 forbidden',
    );
    // The last of 43 characters carries 4 spare bits: its siblings decode to the same bytes.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(sig.at(-1)!);
    const sibling = `${sig.slice(0, -1)}${alphabet[last ^ 1]}`;
    assert.deepEqual(Buffer.from(sibling, 'base64url'), Buffer.from(sig, 'base64url'));
    assert.equal(
      refusal(() => access.forCamera('lab', undefined, { ...signed, sig: sibling })),
      '403 forbidden',
    );

    const tooLong = query(access.sign('lab', SIGNED_URL_TTL_RANGE[1] + 3600).query);
    assert.equal(
      refusal(() => access.forCamera('lab', undefined, tooLong)),
      '403 forbidden',
    );
    const longest = query(access.sign('lab', SIGNED_URL_TTL_RANGE[1]).query);
    assert.equal(
      refusal(() => access.forCamera('lab', undefined, longest)),
      'allowed',
    );
  });

  it('checks a bearer token against the camera when one is sent', () => {
    assert.equal(
      refusal(() => access.forCamera('yard', 'Bearer lab-token-0123456789ab', {})),
      '403 forbidden',
    );
    assert.equal(
      refusal(() => access.forCamera('lab', 'Bearer lab-token-0123456789ab', {})),
      'allowed',
    );
    assert.equal(
      refusal(() => access.forCamera('lab', undefined, {})),
      '401 unauthorized',
    );
  });

  it('allows everything when off', () => {
    const open = new AccessControl({ enabled: false, tokens: [], ttlSeconds: 60 });
    assert.equal(open.forCamera('lab', undefined, {}).cameras, null);
    assert.equal(open.fromBearer(undefined).cameras, null);
  });
});
