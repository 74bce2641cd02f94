/**
 * The camera directory in Redis: one hash, a field per camera, written by capture and read by
 * every gateway. The same commands on one Redis and on a Redis Cluster (one key, one slot).
 */
import type { Cluster, Redis } from 'ioredis';
import { cameraDirectoryKey } from '@camrelay/frame';
import type { CameraInfo } from './bus.js';

export async function announceCameras(redis: Redis | Cluster, cameras: readonly CameraInfo[]): Promise<void> {
  if (cameras.length === 0) return;
  // position keeps CAMERAS order (the first camera is /video_feed's) through the hash.
  const entries = cameras.flatMap((camera, position) => [camera.id, JSON.stringify({ ...camera, position })]);
  await redis.hset(cameraDirectoryKey(), ...entries);
}

export async function listCameras(redis: Redis | Cluster): Promise<CameraInfo[]> {
  const directory = await redis.hgetall(cameraDirectoryKey());
  const cameras: Array<{ camera: CameraInfo; position: number }> = [];
  for (const json of Object.values(directory)) {
    const entry = parseDirectoryEntry(json);
    if (entry) cameras.push(entry);
  }
  return cameras.sort((a, b) => a.position - b.position || a.camera.id.localeCompare(b.camera.id)).map((entry) => entry.camera);
}

function parseDirectoryEntry(json: string): { camera: CameraInfo; position: number } | null {
  try {
    const value = JSON.parse(json) as Partial<CameraInfo> & { position?: unknown };
    if (typeof value.id !== 'string' || typeof value.width !== 'number' || typeof value.height !== 'number') return null;
    const camera = {
      id: value.id,
      width: value.width,
      height: value.height,
      fps: typeof value.fps === 'number' ? value.fps : 0,
      lastFrameAt: typeof value.lastFrameAt === 'number' ? value.lastFrameAt : null,
    };
    return { camera, position: typeof value.position === 'number' ? value.position : Number.MAX_SAFE_INTEGER };
  } catch {
    return null;
  }
}
