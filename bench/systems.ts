/**
 * The systems the benchmarks start, each serving the same frames as one MJPEG stream: the
 * floor (raw sockets, floor.ts), camrelay's topologies, and the classic design.
 */
import { OPEN_GATEWAY, startStack } from '@camrelay/clients';
import { freePort, spawnCapture, spawnGateway, spawnProcess, spawnRedis, spawnRedisCluster } from '@camrelay/stack';
import type { Running } from '@camrelay/stack';
import type { FrameSet } from './frames.js';
import type { SystemName } from './run-result.js';

/** The frame rate every system serves. */
export const FPS = 30;

export interface Server {
  readonly url: string;
  /** The processes whose CPU and memory are the server's (the gateway, not capture or Redis). */
  readonly measured: number[];
  /** Processes whose CPU is reported beside, as the cost of producing the frames. */
  readonly beside: number[];
  /** Capture's process, whose CPU per source frame is reported on its own. */
  readonly capture?: number;
  stop(): Promise<void>;
}

export async function startSystem(name: SystemName, frames: FrameSet): Promise<Server> {
  const stopAll =
    (...parts: Running[]) =>
    async () => {
      for (const part of parts) await part.stop();
    };
  switch (name) {
    case 'floor': {
      const port = await freePort();
      const floor = spawnProcess(process.execPath, [
        'bench/dist/floor.js',
        '--port',
        String(port),
        '--frames',
        frames.dir,
        '--fps',
        String(FPS),
      ]);
      await floor.waitFor(/floor listening/);
      return { url: `http://127.0.0.1:${port}/`, measured: [floor.process.pid!], beside: [], stop: stopAll(floor) };
    }
    case 'camrelay':
    case 'camrelay-reencode': {
      // The frames file is MJPEG: capture passes its JPEGs on as they are, the floor's own bytes.
      // camrelay-reencode decodes and encodes each again, as for a camera that is not MJPEG.
      const redis = await spawnRedis();
      const capture = await spawnCapture(
        {
          REDIS_URL: redis.url,
          CAMERAS: `bench=file:${frames.video}`,
          JPEG_QUALITY: '80',
          MJPEG_PASSTHROUGH: name === 'camrelay' ? 'on' : 'off',
        },
        ['bench'],
      );
      const gateway = await spawnGateway({ REDIS_URL: redis.url, ...OPEN_GATEWAY });
      return {
        url: `${gateway.baseUrl}/cameras/bench/stream.mjpg`,
        measured: [gateway.process.pid!],
        beside: [capture.process.pid!, redis.process.pid!],
        capture: capture.process.pid!,
        stop: stopAll(gateway, capture, redis),
      };
    }
    case 'camrelay-cluster': {
      // The same pipeline on a Redis Cluster (3 masters, 3 replicas, sharded pub/sub): what the
      // cluster bus costs a gateway per frame, beside 'camrelay' on one Redis.
      const cluster = await spawnRedisCluster();
      const capture = await spawnCapture(
        { REDIS_CLUSTER_NODES: cluster.seeds, CAMERAS: `bench=file:${frames.video}`, JPEG_QUALITY: '80' },
        ['bench'],
      );
      const gateway = await spawnGateway({ REDIS_CLUSTER_NODES: cluster.seeds, ...OPEN_GATEWAY });
      return {
        url: `${gateway.baseUrl}/cameras/bench/stream.mjpg`,
        measured: [gateway.process.pid!],
        beside: [capture.process.pid!, ...cluster.nodes.map((node) => node.process.pid!)],
        stop: async () => {
          await stopAll(gateway, capture)();
          await cluster.stop();
        },
      };
    }
    case 'camrelay-3gw-haproxy': {
      const stack = await startStack(3, { PORT: String(await freePort()), CAMERAS: `bench=file:${frames.video}`, ...OPEN_GATEWAY });
      const lbPid = Number(/haproxy\s+pid (\d+)/.exec(stack.output.join('\n'))?.[1]);
      return {
        url: `${stack.url.replace('localhost', '127.0.0.1')}/cameras/bench/stream.mjpg`,
        measured: [...stack.gateways.map((g) => g.pid), lbPid],
        beside: [],
        stop: async () => void (await stack.stop('SIGINT')),
      };
    }
    case 'classic-threaded':
    case 'classic-gevent': {
      const port = await freePort();
      const mode = name.slice('classic-'.length);
      const server = spawnProcess('/usr/bin/python3', [
        'bench/classic/server.py',
        '--port',
        String(port),
        '--frames',
        frames.dir,
        '--fps',
        String(FPS),
        '--mode',
        mode,
      ]);
      await server.waitFor(/classic server listening/);
      return { url: `http://127.0.0.1:${port}/video_feed`, measured: [server.process.pid!], beside: [], stop: stopAll(server) };
    }
  }
}
