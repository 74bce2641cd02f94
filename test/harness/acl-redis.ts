/**
 * redis-server started as docker-compose.yml and deploy/k8s start it: deploy/redis/start.sh,
 * which gives the users of deploy/redis/users.acl their passwords (REDIS_<USER>_PASSWORD), here
 * random ones. One user of the test's own is added (`observer`, every permission): it reads
 * ACL LOG, CLIENT LIST and the keys, so that the test can check the shipped users against them.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, isOk, loopbackRedisArgs, repoRoot, spawnProcess, untilAnswers, untilRedisAnswers } from '@camrelay/stack';
import type { Running } from '@camrelay/stack';

export const REDIS_START = join(repoRoot, 'deploy', 'redis', 'start.sh');
export const REDIS_USERS_ACL = join(repoRoot, 'deploy', 'redis', 'users.acl');

/** The users of deploy/redis/users.acl that log in, each with its REDIS_<USER>_PASSWORD. */
export const REDIS_USERS = ['capture', 'gateway', 'exporter'] as const;
export type RedisUser = (typeof REDIS_USERS)[number] | 'observer';

export const passwordVariable = (user: string) => `REDIS_${user.toUpperCase()}_PASSWORD`;

export interface AclRedis extends Running {
  readonly port: number;
  readonly passwords: Readonly<Record<RedisUser, string>>;
  /** `redis://USER:PASSWORD@127.0.0.1:PORT`, as compose and the manifests give it. */
  url(user: RedisUser): string;
  /** A connection as `user`; closed by `stop`. */
  connect(user: RedisUser): Redis;
}

export async function spawnAclRedis(): Promise<AclRedis> {
  const port = await freePort();
  const passwords = Object.fromEntries([...REDIS_USERS, 'observer'].map((user) => [user, randomBytes(24).toString('hex')])) as Record<
    RedisUser,
    string
  >;
  // start.sh writes the users, passwords included, to a file in TMPDIR: one of this server's own.
  const tmp = mkdtempSync(join(tmpdir(), 'camrelay-acl-redis-'));
  const server = spawnProcess(
    'sh',
    [REDIS_START, ...loopbackRedisArgs(port), '--user', 'observer', 'on', `>${passwords.observer}`, '+@all', '~*', '&*'],
    { TMPDIR: tmp, ...Object.fromEntries(REDIS_USERS.map((user) => [passwordVariable(user), passwords[user]])) },
  );
  void server.exited.then(() => rmSync(tmp, { recursive: true, force: true }));
  await untilRedisAnswers(server, port);
  const url = (user: RedisUser) => `redis://${user}:${passwords[user]}@127.0.0.1:${port}`;
  const connections: Redis[] = [];
  return {
    ...server,
    port,
    passwords,
    url,
    connect(user) {
      // No retries: a refusal is what some checks wait for.
      const connection = new Redis(url(user), { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: false });
      connection.on('error', () => undefined);
      connections.push(connection);
      return connection;
    },
    async stop(signal) {
      for (const connection of connections) connection.disconnect();
      return server.stop(signal);
    },
  };
}

export interface RedisExporter extends Running {
  /** `http://127.0.0.1:PORT`: /metrics (its own) and /scrape?target= (a Redis's). */
  readonly url: string;
  readonly port: number;
}

/**
 * Debian's redis exporter as the monitoring override and the Kubernetes sidecar run it: its
 * user and password in its environment, no Redis of its own (-redis.addr=), targets named by
 * each scrape. Returned once its /metrics serves its own metrics (any other path of it answers
 * 200 with a landing page).
 */
export async function spawnRedisExporter(redis: AclRedis, command = 'prometheus-redis-exporter'): Promise<RedisExporter> {
  const port = await freePort();
  const exporter = spawnProcess(command, ['-redis.addr=', `-web.listen-address=127.0.0.1:${port}`], {
    REDIS_USER: 'exporter',
    REDIS_PASSWORD: redis.passwords.exporter,
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await untilAnswers(exporter, `${url}/metrics`, (answer) => isOk(answer) && answer.body.includes('redis_exporter_build_info'), 30_000);
  } catch (error) {
    await exporter.stop(); // nobody else holds it: left running, it would keep the test process alive
    throw error;
  }
  return { ...exporter, url, port };
}
