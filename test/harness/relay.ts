/**
 * The relay as the cross-service tests start it: a real redis-server (or Redis Cluster), a
 * capture fleet and gateways on it, each a process of its own, returned once every gateway is
 * ready and every camera has delivered a frame. State is read from their interfaces.
 */
import { hasFrameOf, isOk, spawnCapture, spawnGateway, spawnRedis, spawnRedisCluster, untilAnswers } from '@camrelay/stack';
import type { CaptureService, ProcessOptions, RedisCluster, RedisServer, Service } from '@camrelay/stack';

export interface RelayOptions {
  /** CAMERAS, for every capture instance. */
  readonly cameras: string;
  /** The cameras to wait for a first frame of before returning. @default every camera of `cameras` */
  readonly streaming?: readonly string[];
  /** How many gateways, or each one's own variables (added to `gatewayEnv`). @default 1 */
  readonly gateways?: number | readonly NodeJS.ProcessEnv[];
  /** Capture instances: one fleet, sharing the cameras. @default 1 */
  readonly captures?: number;
  /** Variables of every capture and gateway. */
  readonly env?: NodeJS.ProcessEnv;
  /** Variables of capture only. */
  readonly captureEnv?: NodeJS.ProcessEnv;
  /** Variables of every gateway. */
  readonly gatewayEnv?: NodeJS.ProcessEnv;
  /** Output kept per gateway, and the like. */
  readonly gatewayOptions?: ProcessOptions;
  /** A Redis Cluster of this many masters (one replica each) instead of one redis-server. */
  readonly clusterMasters?: number;
}

export interface Relay {
  /** The one redis-server, unless the relay runs on a cluster. */
  readonly redis: RedisServer | undefined;
  readonly cluster: RedisCluster | undefined;
  /** What capture and the gateways were given to find the bus: REDIS_URL or REDIS_CLUSTER_NODES. */
  readonly busEnv: { readonly REDIS_URL: string } | { readonly REDIS_CLUSTER_NODES: string };
  readonly captures: readonly CaptureService[];
  /** The first capture instance: the only one unless `captures` said otherwise. */
  readonly capture: CaptureService;
  /** Its health server (/healthz, /metrics). */
  readonly captureHealth: string;
  readonly gateways: readonly Service[];
  /** The first gateway. */
  readonly gateway: Service;
  stop(): Promise<void>;
}

/** The camera ids of a CAMERAS value. */
export function cameraIdsOf(cameras: string): string[] {
  return cameras
    .split(';')
    .filter(Boolean)
    .map((entry) => entry.slice(0, entry.indexOf('=')));
}

export async function startRelay(options: RelayOptions): Promise<Relay> {
  const { cameras, env = {}, captureEnv = {}, gatewayEnv = {}, gatewayOptions = {} } = options;
  const streaming = options.streaming ?? cameraIdsOf(cameras);
  const gatewayEnvs = typeof options.gateways === 'object' ? options.gateways : Array.from({ length: options.gateways ?? 1 }, () => ({}));
  let redis: RedisServer | undefined;
  let cluster: RedisCluster | undefined;
  const captures: CaptureService[] = [];
  const gateways: Service[] = [];
  const stop = async () => {
    await Promise.all(gateways.map((gateway) => gateway.stop()));
    await Promise.all(captures.map((capture) => capture.stop()));
    await redis?.stop();
    await cluster?.stop();
  };
  try {
    if (options.clusterMasters === undefined) redis = await spawnRedis();
    else cluster = await spawnRedisCluster({ masters: options.clusterMasters });
    const busEnv = redis ? { REDIS_URL: redis.url } : { REDIS_CLUSTER_NODES: cluster!.seeds };
    const captureCount = options.captures ?? 1;
    // One instance waits for its cameras itself; a fleet shares them, so the fleet's health is asked.
    captures.push(
      ...(await Promise.all(
        Array.from({ length: captureCount }, () =>
          spawnCapture({ ...busEnv, ...env, ...captureEnv, CAMERAS: cameras }, captureCount === 1 ? streaming : []),
        ),
      )),
    );
    if (captureCount > 1) await everyCameraStreaming(captures, streaming);
    gateways.push(
      ...(await Promise.all(gatewayEnvs.map((own) => spawnGateway({ ...busEnv, ...env, ...gatewayEnv, ...own }, gatewayOptions)))),
    );
    await Promise.all(gateways.map((gateway) => gateway.ready()));
    return {
      redis,
      cluster,
      busEnv,
      captures,
      capture: captures[0]!,
      captureHealth: captures[0]!.healthUrl,
      gateways,
      gateway: gateways[0]!,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Resolves once, between them, the capture instances show a frame of each camera. */
async function everyCameraStreaming(captures: readonly CaptureService[], cameraIds: readonly string[]): Promise<void> {
  const streaming = new Set<string>();
  await Promise.all(
    captures.map((capture) =>
      untilAnswers(
        capture,
        `${capture.healthUrl}/healthz`,
        (answer) => {
          if (!isOk(answer)) return false;
          for (const id of cameraIds) if (hasFrameOf(answer, id)) streaming.add(id);
          return cameraIds.every((id) => streaming.has(id));
        },
        60_000,
      ),
    ),
  );
}
