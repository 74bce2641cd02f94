import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '@camrelay/config';
import { AccessControl, allowedTtl } from './http/access.js';
import { readGatewayConfig } from './config.js';
import { HttpError } from './http/errors.js';

const ADMIN = 'admin-token-0123456789';
const PROMETHEUS = 'prometheus-token-0123456789';
const LONG = 'long-lived-token-0123456789';

function problem(tokens: string): string {
  try {
    readGatewayConfig({ REDIS_URL: 'redis://127.0.0.1:6379', API_TOKENS: tokens }, 'redis');
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.message;
  }
  return 'accepted';
}

describe('API_TOKENS options', () => {
  const config = readGatewayConfig(
    {
      REDIS_URL: 'redis://127.0.0.1:6379',
      API_TOKENS: `${ADMIN}; ${PROMETHEUS} scope=metrics; ${LONG}=lab,yard maxttl=604800`,
      SIGNED_URL_TTL: '600',
    },
    'redis',
  );
  const access = new AccessControl({ enabled: true, tokens: config.API_TOKENS, ttlSeconds: config.SIGNED_URL_TTL });
  const grant = (token: string) => access.fromBearer(`Bearer ${token}`);
  const ttlAnswer = (token: string, ttl: number) => {
    try {
      return allowedTtl(grant(token), ttl);
    } catch (error) {
      assert.ok(error instanceof HttpError);
      return `${error.status} ${error.code}`;
    }
  };

  it('caps the lifetime a token may sign at SIGNED_URL_TTL, unless it was granted a maxttl', () => {
    assert.equal(ttlAnswer(ADMIN, 600), 600);
    assert.equal(ttlAnswer(ADMIN, 601), '403 ttl_not_allowed');
    assert.equal(ttlAnswer(LONG, 604_800), 604_800);
    assert.deepEqual(grant(LONG).cameras, new Set(['lab', 'yard']));
  });

  it('gives a scope=metrics token /metrics and no camera; only a token for every camera has both', () => {
    assert.equal(grant(PROMETHEUS).metrics, true);
    assert.deepEqual(grant(PROMETHEUS).cameras, new Set());
    assert.equal(grant(ADMIN).metrics, true);
    assert.equal(grant(LONG).metrics, false);
  });

  it('refuses malformed options with a message that names the entry and never the token', () => {
    for (const [tokens, expected] of [
      [`${ADMIN} maxttl=5`, /entry 1: maxttl must be from 10 to 604800 seconds/],
      [`${ADMIN} maxttl=ten`, /entry 1: expected TOKEN/],
      [`${ADMIN} maxttl=60 maxttl=70`, /entry 1: expected TOKEN/],
      [`${ADMIN} scope=everything`, /entry 1: expected TOKEN/],
      [`${ADMIN}; ${PROMETHEUS}=lab scope=metrics`, /entry 2: a scope=metrics token views no camera/],
      [`${ADMIN}; ${ADMIN} scope=metrics`, /entry 2: the same token appears twice/],
    ] as const) {
      const message = problem(tokens);
      assert.match(message, expected, tokens);
      assert.doesNotMatch(message, /token-0123456789/, 'the token is not repeated');
    }
  });
});
