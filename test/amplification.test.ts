/**
 * Requests that hold no viewer slot cannot turn into work without bound (issue 23): a HEAD or
 * a snapshot of a camera nobody watches reads its directory entry afresh, but every such
 * request of the last 250 ms shares one read, so a client asking again and again costs Redis a
 * few reads a second; and snapshots (and HEAD) are limited per client address.
 */
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { OPEN_GATEWAY } from '@camrelay/clients';
import type { RedisServer, Service } from '@camrelay/stack';
import { eventually } from './harness/eventually.js';
import { startRelay } from './harness/relay.js';
import type { Relay } from './harness/relay.js';

const SNAPSHOTS_PER_SECOND = 5;

describe('work per request that holds no slot', () => {
  let relay: Relay;
  let redis: RedisServer;
  let open: Service;
  let limited: Service;

  before(async () => {
    relay = await startRelay({
      cameras: 'lab=pattern:160x120@5',
      gatewayEnv: OPEN_GATEWAY,
      gateways: [{ MAX_SNAPSHOTS_PER_ADDRESS: '100000' }, { MAX_SNAPSHOTS_PER_ADDRESS: String(SNAPSHOTS_PER_SECOND) }],
    });
    redis = relay.redis!;
    [open, limited] = relay.gateways as [Service, Service];
  });

  after(async () => {
    await relay?.stop();
  });

  it('shares the fresh reads of a camera nobody watches: 300 HEAD requests cost Redis a few reads a second', async () => {
    const client = new Redis(redis.url);
    try {
      // The gateway reads a camera's entry with GET; capture only when it takes a camera (at start here).
      const gets = async () => Number(/cmdstat_get:calls=(\d+)/.exec(await client.info('commandstats'))?.[1] ?? 0);
      const before = await gets();
      const startedAt = performance.now();
      for (let round = 0; round < 30; round++) {
        const answers = await Promise.all(
          Array.from({ length: 10 }, () => fetch(`${open.baseUrl}/cameras/lab/stream.mjpg`, { method: 'HEAD' })),
        );
        for (const answer of answers) assert.equal(answer.status, 200);
      }
      const seconds = (performance.now() - startedAt) / 1000;
      const reads = (await gets()) - before;
      // One read per 250 ms at most, and one more for a read still under way at either end.
      const bound = Math.ceil(seconds / 0.25) + 2;
      assert.ok(reads <= bound, `${reads} reads of Redis for 300 requests in ${seconds.toFixed(1)} s (at most ${bound})`);
    } finally {
      await client.quit();
    }
  });

  it('limits snapshots per client address with 429 and Retry-After, and only that address', async () => {
    const snapshot = () => fetch(`${limited.baseUrl}/cameras/lab/snapshot.jpg`);
    const answers = await Promise.all(Array.from({ length: SNAPSHOTS_PER_SECOND * 3 }, snapshot));
    const statuses = answers.map((answer) => answer.status);
    assert.ok(statuses.filter((status) => status === 200).length <= SNAPSHOTS_PER_SECOND + 1, statuses.join(','));
    const refused = answers.find((answer) => answer.status === 429);
    assert.ok(refused, `none refused: ${statuses.join(',')}`);
    assert.equal(refused.headers.get('retry-after'), '1');
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'too_many_requests');
    // Another client address still gets a whole burst of its own: with one bucket for every
    // address, at most the one or two tokens refilled meanwhile would be left for it.
    const snapshotFrom127002 = () =>
      new Promise<number>((resolve, reject) => {
        get(`${limited.baseUrl}/cameras/lab/snapshot.jpg`, { localAddress: '127.0.0.2', agent: false }, (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        }).on('error', reject);
      });
    const others = await Promise.all(Array.from({ length: SNAPSHOTS_PER_SECOND }, snapshotFrom127002));
    assert.deepEqual(others, Array<number>(SNAPSHOTS_PER_SECOND).fill(200), 'another address served a whole burst');
    // The bucket refills: a second later the first address is served again.
    await eventually(async () => assert.equal((await snapshot()).status, 200), 3000, 250);
  });
});
