/**
 * What both Redis buses send the same way, to one Redis or through a Redis Cluster: a frame
 * and its latest-frame copy, the camera directory (one hash, a field per camera, written by
 * capture and read by every gateway), the gateways' claims on the cameras they watch, and
 * shared secrets. Every command names one key, or keys
 * of one camera's hash tag: one slot, one node, in a cluster too.
 */
import type { Cluster, Redis } from 'ioredis';
import { cameraDirectoryKey, framesChannel, latestFrameKey, sharedSecretKey, watchedCamerasKey } from '@camrelay/frame';
import type { CameraInfo } from './bus.js';
import { LATEST_FRAME_TTL_MS } from './bus.js';

/**
 * Publishes an envelope on the camera's channel and keeps it as its latest frame, in one
 * round trip. `publish` on one Redis; `spublish` in a cluster, where `publish` is broadcast to
 * every node.
 */
export async function publishFrame(
  redis: Redis | Cluster,
  command: 'publish' | 'spublish',
  cameraId: string,
  envelope: Buffer,
): Promise<void> {
  const pipeline = redis.pipeline();
  pipeline[command](framesChannel(cameraId), envelope);
  const results = await pipeline.set(latestFrameKey(cameraId), envelope, 'PX', LATEST_FRAME_TTL_MS).exec();
  const failed = results?.find(([error]) => error);
  if (failed?.[0]) throw failed[0];
}

/** The secret stored under `name`, or `candidate`, stored, when there is none. */
export async function sharedSecret(redis: Redis | Cluster, name: string, candidate: string): Promise<string> {
  await redis.set(sharedSecretKey(name), candidate, 'NX');
  return (await redis.get(sharedSecretKey(name))) ?? candidate;
}

/**
 * Claims expire by Redis's clock, read inside the script (TIME), never by a gateway's or
 * capture's: hosts whose clocks disagree by seconds would otherwise keep a camera open, or
 * close it, seconds early or late. The key itself expires with its newest claim.
 */
const REDIS_NOW_MS = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** KEYS[1] the claims; ARGV[1] ttl in ms, ARGV[2..] members. */
const MARK_WATCHED = `${REDIS_NOW_MS}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local ttl = tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], now + ttl, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ttl)
return 0`;

/** KEYS[1] the claims: the members whose claim is live now. */
const LIVE_CLAIMS = `${REDIS_NOW_MS}
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')`;

/** A claim names its camera first: camera ids hold no spaces. */
const claim = (holder: string, cameraId: string) => `${cameraId} ${holder}`;

export async function markWatched(redis: Redis | Cluster, holder: string, cameraIds: readonly string[], ttlMs: number): Promise<void> {
  if (cameraIds.length === 0) return;
  await redis.eval(MARK_WATCHED, 1, watchedCamerasKey(), Math.ceil(ttlMs), ...cameraIds.map((id) => claim(holder, id)));
}

export async function unmarkWatched(redis: Redis | Cluster, holder: string, cameraId: string): Promise<void> {
  await redis.zrem(watchedCamerasKey(), claim(holder, cameraId));
}

export async function watchedCameras(redis: Redis | Cluster): Promise<Set<string>> {
  const members = (await redis.eval(LIVE_CLAIMS, 1, watchedCamerasKey())) as string[];
  return new Set(members.map((member) => member.slice(0, member.indexOf(' '))));
}

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
      sleeping: value.sleeping === true,
      sizes: Array.isArray(value.sizes) ? value.sizes.filter((size): size is string => typeof size === 'string') : [],
    };
    return { camera, position: typeof value.position === 'number' ? value.position : Number.MAX_SAFE_INTEGER };
  } catch {
    return null;
  }
}
