/**
 * Leases and fleets on Redis (see leases.ts), the same on one Redis and through a Redis
 * Cluster. A camera's lease is one hash in its own slot, kept for good (a few dozen bytes):
 * `epoch` (the highest ever given, so also the floor of the next), `holder`, `until` (when it
 * expires, Redis server time in ms, as the claims), `awake`, `leaving`, and a hand-over's
 * reservation (`next`, `nextUntil`). Every read and write is a script on that one key, timed
 * by Redis's clock (TIME), never by a capture host's.
 */
import type { Cluster, Redis } from 'ioredis';
import { cameraLeaseKey, captureFleetKey } from './names.js';
import type { CameraLease, LeaseReading, LeaseTerms } from './leases.js';
import { LIVE_MEMBERS, REDIS_NOW_MS, RENEW_MEMBERS, eachCamera } from './redis-commands.js';

/** Returns `{epoch, holder, awake, leaving}` of a live lease, or false. */
const READ = `${REDIS_NOW_MS}
local h = redis.call('HMGET', KEYS[1], 'epoch', 'holder', 'until', 'awake', 'leaving')
if not h[1] or tonumber(h[3] or '0') <= now then return false end
return {h[1], h[2], h[4], h[5]}`;

/**
 * ARGV holder, ttl, from (the epoch taken over, or '' for a free camera), floor, awake.
 * Returns the new epoch, or false when the lease is not as expected.
 */
const TAKE = `${REDIS_NOW_MS}
local h = redis.call('HMGET', KEYS[1], 'epoch', 'until')
local epoch = tonumber(h[1] or '0')
local from = tonumber(ARGV[3])
if tonumber(h[2] or '0') > now and (from == nil or epoch ~= from) then return false end
local taken = math.max(epoch, tonumber(ARGV[4]), from or 0) + 1
redis.call('HSET', KEYS[1], 'epoch', taken, 'holder', ARGV[1], 'until', now + tonumber(ARGV[2]), 'awake', ARGV[5], 'leaving', '0', 'next', '', 'nextUntil', 0)
return taken`;

/**
 * ARGV epoch, holder, ttl, awake, leaving. Held under this epoch by this holder: renewed. Under a
 * lower epoch (Redis lost the take that gave this one: a restart, a failover), or expired and
 * not taken since: written again, the higher epoch wins. Returns 0 when the camera is someone
 * else's (a higher epoch, or this one given to another after Redis lost its count).
 */
const RENEW = `${REDIS_NOW_MS}
local h = redis.call('HMGET', KEYS[1], 'epoch', 'holder')
local epoch = tonumber(h[1] or '0')
local mine = tonumber(ARGV[1])
if epoch > mine or (epoch == mine and h[2] and h[2] ~= ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'epoch', mine, 'holder', ARGV[2], 'until', now + tonumber(ARGV[3]), 'awake', ARGV[4], 'leaving', ARGV[5])
return 1`;

/** ARGV epoch, holder: the lease ends now, its epoch stays. */
const RELEASE = `
local h = redis.call('HMGET', KEYS[1], 'epoch', 'holder')
if h[1] == ARGV[1] and h[2] == ARGV[2] then redis.call('HSET', KEYS[1], 'until', 0) end
return 0`;

/** ARGV holder, ttl: 1 if this holder may open the camera to take it over (no one else is). */
const RESERVE = `${REDIS_NOW_MS}
local h = redis.call('HMGET', KEYS[1], 'next', 'nextUntil')
if h[1] and h[1] ~= '' and h[1] ~= ARGV[1] and tonumber(h[2] or '0') > now then return 0 end
redis.call('HSET', KEYS[1], 'next', ARGV[1], 'nextUntil', now + tonumber(ARGV[2]))
return 1`;

const flag = (value: boolean) => (value ? '1' : '0');

export async function readLeases(redis: Redis | Cluster, cameraIds: readonly string[]): Promise<LeaseReading> {
  const results = await eachCamera(cameraIds, (cameraId) => redis.eval(READ, 1, cameraLeaseKey(cameraId)) as Promise<string[] | null>);
  const leases = new Map<string, CameraLease | null>();
  const unreadable = new Set<string>();
  for (const [cameraId, result] of results) {
    if (result.status === 'rejected') unreadable.add(cameraId);
    else if (!result.value) leases.set(cameraId, null);
    else {
      const [epoch, holder, awake, leaving] = result.value;
      leases.set(cameraId, { epoch: Number(epoch), holder: holder ?? '', awake: awake === '1', leaving: leaving === '1' });
    }
  }
  return { leases, unreadable };
}

export async function takeLease(
  redis: Redis | Cluster,
  cameraId: string,
  terms: LeaseTerms,
  from: number | null,
  floor: number,
): Promise<number | null> {
  const epoch = await redis.eval(
    TAKE,
    1,
    cameraLeaseKey(cameraId),
    terms.holder,
    Math.ceil(terms.ttlMs),
    from ?? '',
    floor,
    flag(terms.awake),
  );
  return typeof epoch === 'number' ? epoch : null;
}

export async function renewLease(redis: Redis | Cluster, cameraId: string, epoch: number, terms: LeaseTerms): Promise<boolean> {
  const { holder, ttlMs, awake, leaving } = terms;
  return (await redis.eval(RENEW, 1, cameraLeaseKey(cameraId), epoch, holder, Math.ceil(ttlMs), flag(awake), flag(leaving))) === 1;
}

export async function releaseLease(redis: Redis | Cluster, cameraId: string, holder: string, epoch: number): Promise<void> {
  await redis.eval(RELEASE, 1, cameraLeaseKey(cameraId), String(epoch), holder);
}

export async function reserveHandover(redis: Redis | Cluster, cameraId: string, holder: string, ttlMs: number): Promise<boolean> {
  return (await redis.eval(RESERVE, 1, cameraLeaseKey(cameraId), holder, Math.ceil(ttlMs))) === 1;
}

export async function joinFleet(redis: Redis | Cluster, fleet: string, member: string, ttlMs: number): Promise<string[]> {
  await redis.eval(RENEW_MEMBERS, 1, captureFleetKey(fleet), Math.ceil(ttlMs), member);
  return fleetMembers(redis, fleet);
}

export async function fleetMembers(redis: Redis | Cluster, fleet: string): Promise<string[]> {
  return (await redis.eval(LIVE_MEMBERS, 1, captureFleetKey(fleet))) as string[];
}

export async function leaveFleet(redis: Redis | Cluster, fleet: string, member: string): Promise<void> {
  await redis.zrem(captureFleetKey(fleet), member);
}
