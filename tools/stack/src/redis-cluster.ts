/**
 * A real Redis Cluster from local redis-server processes: masters and their replicas on free
 * loopback ports, joined by `redis-cli --cluster create`. Used by `npm run stack --
 * --redis-cluster N` and by the cluster tests.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REDIS_PUBSUB_BUFFER_LIMIT, freePort, spawnProcess, untilRedisAnswers } from './processes.js';
import type { ProcessOptions, Running } from './processes.js';

const run = promisify(execFile);

export interface RedisClusterOptions extends ProcessOptions {
  /** @default 3 */
  masters?: number;
  /** @default 1 */
  replicasPerMaster?: number;
  /**
   * How long a master may be unreachable before its replica takes over. Redis's default is
   * 15 s; tests want failovers in about a second. @default 1000
   */
  nodeTimeoutMs?: number;
  /**
   * Join the nodes into a cluster before returning. Without it the nodes run but serve no
   * slots until `create()`: clients started first must wait for it. @default true
   */
  create?: boolean;
}

export interface RedisClusterNode extends Running {
  readonly port: number;
}

export interface RedisCluster {
  readonly nodes: readonly RedisClusterNode[];
  /** `host:port,…` of every node: what REDIS_CLUSTER_NODES takes. */
  readonly seeds: string;
  /** Joins the nodes (when started with `create: false`) and waits for the cluster to serve every slot. */
  create(): Promise<void>;
  /** Runs redis-cli against one node and returns what it printed. */
  cli(port: number, ...args: string[]): Promise<string>;
  /**
   * Starts a node again on its ports, in the cluster's directory, with its `nodes-PORT.conf`:
   * it rejoins the cluster as the node it was (its slots or its master), its data gone (no
   * persistence). A node still running is killed first. The new node takes the old one's place
   * in `nodes`; resolves with it once it answers.
   */
  restart(node: RedisClusterNode): Promise<RedisClusterNode>;
  stop(): Promise<void>;
}

export async function spawnRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const { masters = 3, replicasPerMaster = 1, nodeTimeoutMs = 1000 } = options;
  const dir = mkdtempSync(join(tmpdir(), 'camrelay-redis-cluster-'));
  const nodes: RedisClusterNode[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((node) => node.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  const cli = async (port: number, ...args: string[]) => (await run('redis-cli', ['-p', String(port), ...args])).stdout;
  /** Each node's cluster bus port, by its port: a restarted node takes both again. */
  const busPorts = new Map<number, number>();
  const spawnNode = (port: number): RedisClusterNode => ({
    ...spawnProcess(
      'redis-server',
      [
        ...['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'],
        ...['--cluster-enabled', 'yes', '--cluster-port', String(busPorts.get(port)), '--cluster-config-file', `nodes-${port}.conf`],
        ...['--cluster-node-timeout', String(nodeTimeoutMs), '--client-output-buffer-limit', REDIS_PUBSUB_BUFFER_LIMIT],
        // While a master is down and not yet replaced, the other shards keep serving their
        // cameras: with Redis's default (yes) every node refuses every command until then.
        ...['--cluster-require-full-coverage', 'no'],
        // A replica that never finished its first sync may not take over (its data counts as
        // too old); Redis's default waits 5 s before that sync starts.
        ...['--repl-diskless-sync-delay', '0'],
      ],
      {},
      options,
    ),
    port,
  });
  try {
    for (let i = 0; i < masters * (1 + replicasPerMaster); i++) {
      // The cluster bus port is chosen too: Redis's default (port + 10000) may be past 65535.
      const [port, busPort] = [await freePort(), await freePort()];
      busPorts.set(port, busPort);
      const node = spawnNode(port);
      nodes.push(node);
      await untilRedisAnswers(node, port);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  const create = async () => {
    await run('redis-cli', [
      '--cluster',
      'create',
      ...nodes.map((node) => `127.0.0.1:${node.port}`),
      '--cluster-replicas',
      String(replicasPerMaster),
      '--cluster-yes',
    ]);
    await waitForClusterOk(nodes, cli);
  };
  if (options.create ?? true) {
    try {
      await create();
    } catch (error) {
      await stop();
      throw error;
    }
  }
  const restart = async (node: RedisClusterNode) => {
    const index = nodes.indexOf(node);
    if (index < 0)
      throw new Error(`redis-server on port ${node.port} is not in the cluster's nodes (restart returns the node that replaces it)`);
    await node.stop('SIGKILL');
    const restarted = spawnNode(node.port);
    nodes[index] = restarted;
    await untilRedisAnswers(restarted, restarted.port);
    return restarted;
  };
  return { nodes, seeds: nodes.map((node) => `127.0.0.1:${node.port}`).join(','), create, cli, restart, stop };
}

/**
 * Every node must see every slot served before clients can rely on it, and every replica must
 * have synced with its master before it can replace it.
 */
async function waitForClusterOk(nodes: readonly RedisClusterNode[], cli: RedisCluster['cli'], timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const states = await Promise.all(
      nodes.map(async (node) => (await cli(node.port, 'cluster', 'info')) + (await cli(node.port, 'info', 'replication'))),
    );
    const ready = (state: string) =>
      /cluster_state:ok/.test(state) &&
      /cluster_slots_ok:16384/.test(state) &&
      (/role:master/.test(state) || /master_link_status:up/.test(state));
    if (states.every(ready)) return;
    if (Date.now() > deadline) throw new Error(`the Redis Cluster was not ready within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
