/**
 * What both Redis buses send the same way, to one Redis or through a Redis Cluster: a frame
 * and its latest-frame copy, the camera directory (an entry per camera, written by capture and
 * read by every gateway, and an index for listing), the gateways' claims on the cameras they
 * watch, and shared secrets. Every command names one key, or keys of one camera's hash tag:
 * one slot, one node, in a cluster too. What a camera's viewers need lives in its own slot.
 */
import type { Cluster, Redis } from 'ioredis';
import { parseFeedId } from '@camrelay/frame';
import type { Tier } from '@camrelay/frame';
import { cameraClaimsKey, cameraDirectoryKey, cameraInfoKey, framesChannel, latestFrameKey, sharedSecretKey } from './names.js';
import type { CameraInfo, WatchedFeeds } from './bus.js';
import { DIRECTORY_ENTRY_TTL_MS, LATEST_FRAME_TTL_MS, MAX_KEPT_SEGMENTS } from './bus.js';

/**
 * Publishes an envelope on the feed's channel and keeps it as its latest frame, in one
 * round trip. `publish` on one Redis; `spublish` in a cluster, where `publish` is broadcast to
 * every node.
 */
export async function publishFrame(
  redis: Redis | Cluster,
  command: 'publish' | 'spublish',
  feedId: string,
  envelope: Buffer,
): Promise<void> {
  const pipeline = redis.pipeline();
  pipeline[command](framesChannel(feedId), envelope);
  const results = await pipeline.set(latestFrameKey(feedId), envelope, 'PX', LATEST_FRAME_TTL_MS).exec();
  const failed = results?.find(([error]) => error);
  if (failed?.[0]) throw failed[0];
}

/**
 * Publishes a segment of an H.264 feed and appends it to the feed's group of pictures (a list,
 * emptied first by a keyframe), in one round trip. Its commands follow one another on one
 * connection: the list is never read half-made by the next publish.
 */
export async function publishSegment(
  redis: Redis | Cluster,
  command: 'publish' | 'spublish',
  feedId: string,
  envelope: Buffer,
  keyframe: boolean,
): Promise<void> {
  const key = latestFrameKey(feedId);
  const pipeline = redis.pipeline();
  if (keyframe) pipeline.del(key);
  pipeline.rpush(key, envelope).ltrim(key, -MAX_KEPT_SEGMENTS, -1).pexpire(key, LATEST_FRAME_TTL_MS);
  const results = await pipeline[command](framesChannel(feedId), envelope).exec();
  const failed = results?.find(([error]) => error);
  if (failed?.[0]) throw failed[0];
}

/** The secret stored under `name`, or `candidate`, stored, when there is none. */
export async function sharedSecret(redis: Redis | Cluster, name: string, candidate: string): Promise<string> {
  await redis.set(sharedSecretKey(name), candidate, 'NX');
  return (await redis.get(sharedSecretKey(name))) ?? candidate;
}

export async function replaceSharedSecret(redis: Redis | Cluster, name: string, secret: string): Promise<void> {
  await redis.set(sharedSecretKey(name), secret);
}

/**
 * Claims and directory entries expire by Redis's clock, read inside the scripts (TIME), never
 * by a gateway's or capture's: hosts whose clocks disagree by seconds would otherwise keep a
 * camera open, or close it, seconds early or late. A key itself expires with its newest member.
 */
export const REDIS_NOW_MS = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** KEYS[1] a sorted set scored by expiry; ARGV[1] ttl in ms, ARGV[2..] members, renewed. */
export const RENEW_MEMBERS = `${REDIS_NOW_MS}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local ttl = tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], now + ttl, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ttl)
return 0`;

/** KEYS[1] a sorted set scored by expiry: its members live now. */
export const LIVE_MEMBERS = `${REDIS_NOW_MS}
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')`;

/** A claim names its feed first: feed ids hold no spaces. */
const claim = (holder: string, feed: string) => `${feed} ${holder}`;

/** Settles every per-camera command (each camera's slot may be on another node), then fails with the first failure. */
export async function eachCamera<T>(
  cameraIds: Iterable<string>,
  run: (cameraId: string) => Promise<T>,
): Promise<Map<string, PromiseSettledResult<T>>> {
  const ids = [...cameraIds];
  const results = await Promise.allSettled(ids.map(run));
  return new Map(ids.map((id, i) => [id, results[i]!]));
}

function firstFailure(results: Iterable<PromiseSettledResult<unknown>>): void {
  for (const result of results) if (result.status === 'rejected') throw result.reason;
}

export async function markWatched(redis: Redis | Cluster, holder: string, feeds: readonly string[], ttlMs: number): Promise<void> {
  const byCamera = new Map<string, string[]>();
  for (const feed of feeds) {
    const { cameraId } = parseFeedId(feed);
    byCamera.set(cameraId, [...(byCamera.get(cameraId) ?? []), claim(holder, feed)]);
  }
  const results = await eachCamera(byCamera.keys(), (cameraId) =>
    redis.eval(RENEW_MEMBERS, 1, cameraClaimsKey(cameraId), Math.ceil(ttlMs), ...byCamera.get(cameraId)!),
  );
  firstFailure(results.values());
}

export async function unmarkWatched(redis: Redis | Cluster, holder: string, feed: string): Promise<void> {
  await redis.zrem(cameraClaimsKey(parseFeedId(feed).cameraId), claim(holder, feed));
}

export async function watchedFeeds(redis: Redis | Cluster, cameraIds: readonly string[]): Promise<WatchedFeeds> {
  const results = await eachCamera(cameraIds, (cameraId) => redis.eval(LIVE_MEMBERS, 1, cameraClaimsKey(cameraId)) as Promise<string[]>);
  const feeds = new Set<string>();
  const unreadable = new Set<string>();
  for (const [cameraId, result] of results) {
    if (result.status === 'rejected') unreadable.add(cameraId);
    else for (const member of result.value) feeds.add(member.slice(0, member.indexOf(' ')));
  }
  return { feeds, unreadable };
}

/** Each camera's entry in its own slot, then the listing index; a camera whose slot fails is still indexed. */
export async function announceCameras(
  redis: Redis | Cluster,
  cameras: readonly CameraInfo[],
  ttlMs = DIRECTORY_ENTRY_TTL_MS,
): Promise<void> {
  if (cameras.length === 0) return;
  // position keeps CAMERAS order (the first camera is /video_feed's) through the directory.
  const entries = new Map(cameras.map((camera, position) => [camera.id, JSON.stringify({ ...camera, position })]));
  const results = await eachCamera(entries.keys(), (cameraId) => redis.set(cameraInfoKey(cameraId), entries.get(cameraId)!, 'PX', ttlMs));
  await redis.eval(RENEW_MEMBERS, 1, cameraDirectoryKey(), ttlMs, ...entries.keys());
  firstFailure(results.values());
}

export async function listCameras(redis: Redis | Cluster): Promise<CameraInfo[]> {
  const ids = (await redis.eval(LIVE_MEMBERS, 1, cameraDirectoryKey())) as string[];
  const results = await eachCamera(ids, (cameraId) => redis.get(cameraInfoKey(cameraId)));
  const cameras: Array<{ camera: CameraInfo; position: number }> = [];
  for (const result of results.values()) {
    const entry = result.status === 'fulfilled' && result.value !== null ? parseDirectoryEntry(result.value) : null;
    if (entry) cameras.push(entry);
  }
  return cameras.sort((a, b) => a.position - b.position || a.camera.id.localeCompare(b.camera.id)).map((entry) => entry.camera);
}

export async function cameraInfo(redis: Redis | Cluster, cameraId: string): Promise<CameraInfo | null> {
  const json = await redis.get(cameraInfoKey(cameraId));
  return json === null ? null : (parseDirectoryEntry(json)?.camera ?? null);
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
      // Absent from the entries of a capture from before the H.264 tier: absent here too (motion JPEG only).
      ...(Array.isArray(value.tiers) ? { tiers: value.tiers.filter((tier): tier is Tier => tier === 'mjpeg' || tier === 'h264') } : {}),
    };
    return { camera, position: typeof value.position === 'number' ? value.position : Number.MAX_SAFE_INTEGER };
  } catch {
    return null;
  }
}
