import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { readConfig } from './index.js';
import { redisTarget, redisVariables } from './redis.js';

const schema = (required: boolean) => z.object(redisVariables).transform((config, ctx) => redisTarget(config, ctx, required) ?? null);
const target = (env: Record<string, string>, required = false) => readConfig(schema(required), env);

describe('REDIS_URL and REDIS_CLUSTER_NODES', () => {
  it('reads one Redis, or none when neither is set and none is required', () => {
    assert.deepEqual(target({ REDIS_URL: 'redis://10.0.0.1:6379' }), { kind: 'single', url: 'redis://10.0.0.1:6379' });
    assert.equal(target({}), null);
    assert.equal(target({ REDIS_URL: '', REDIS_CLUSTER_NODES: '' }), null);
  });

  it('reads cluster seeds as host:port, IPv6 in brackets, and names without credentials', () => {
    assert.deepEqual(target({ REDIS_CLUSTER_NODES: '10.0.0.1:6379, redis-0.redis:7000,[fd00::1]:6380' }), {
      kind: 'cluster',
      tls: false,
      seeds: [
        { host: '10.0.0.1', port: 6379 },
        { host: 'redis-0.redis', port: 7000 },
        { host: 'fd00::1', port: 6380 },
      ],
    });
  });

  it('takes the user, password and TLS of URL entries for every seed', () => {
    assert.deepEqual(target({ REDIS_CLUSTER_NODES: 'rediss://camrelay:p%40ss@10.0.0.1:6379,10.0.0.2:6379' }), {
      kind: 'cluster',
      tls: true,
      username: 'camrelay',
      password: 'p@ss',
      seeds: [
        { host: '10.0.0.1', port: 6379 },
        { host: '10.0.0.2', port: 6379 },
      ],
    });
  });

  it('refuses entries without a port, with a path, URL entries that disagree, both variables, and neither when required', () => {
    const refusals: Array<[Record<string, string>, boolean, RegExp]> = [
      [{ REDIS_CLUSTER_NODES: '10.0.0.1' }, false, /REDIS_CLUSTER_NODES="10.0.0.1": entry 1: expected host:port/],
      [{ REDIS_CLUSTER_NODES: '10.0.0.1:6379,' }, false, /entry 2: expected host:port/],
      [{ REDIS_CLUSTER_NODES: 'redis://10.0.0.1:6379/2' }, false, /entry 1: expected host:port/],
      [{ REDIS_CLUSTER_NODES: '10.0.0.1:99999' }, false, /entry 1: expected host:port/],
      [{ REDIS_CLUSTER_NODES: 'redis://:a@h1:1,redis://:b@h2:2' }, false, /the URL entries differ/],
      [{ REDIS_CLUSTER_NODES: 'redis://h1:1,rediss://h2:2' }, false, /the URL entries differ/],
      [{ REDIS_URL: 'redis://h:1', REDIS_CLUSTER_NODES: 'h:1' }, false, /not both/],
      [{}, true, /REDIS_URL=unset: required.*REDIS_CLUSTER_NODES/],
    ];
    for (const [env, required, message] of refusals) assert.throws(() => target(env, required), message, JSON.stringify(env));
  });
});
