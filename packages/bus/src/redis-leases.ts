/**
 * Leases and fleets on Redis (see leases.ts), the same on one Redis and through a Redis
 * Cluster: each script names the keys of one camera (its lease, epoch counter and hand-over
 * reservation share the camera's hash tag), or the fleet's one key.
 */
import type { Cluster, Redis } from 'ioredis';
import { cameraEpochKey, cameraHandoverKey, cameraLeaseKey, captureFleetKey } from '@camrelay/frame';
import type { CameraLease, LeaseReading, LeaseTerms } from './leases.js';
import { leaseValue, parseLease } from './leases.js';
import { LIVE_MEMBERS, RENEW_MEMBERS, eachCamera } from './redis-commands.js';

/**
 * KEYS lease, epoch counter, hand-over reservation; ARGV value suffix (` HOLDER FLAGS`), ttl,
 * from (epoch expected, or '' for a free camera), floor. Returns the new epoch, or false.
 */
const TAKE = `
local current = redis.call('GET', KEYS[1])
local from = tonumber(ARGV[3])
if current then
  local epoch = tonumber(string.match(current, '^(%d+) '))
  if from == nil or epoch ~= from then return false end
end
local epoch = math.max(tonumber(redis.call('GET', KEYS[2]) or '0'), tonumber(ARGV[4]), from or 0) + 1
redis.call('SET', KEYS[2], epoch)
redis.call('SET', KEYS[1], epoch .. ARGV[1], 'PX', ARGV[2])
redis.call('DEL', KEYS[3])
return epoch`;

/**
 * KEYS lease, epoch counter; ARGV epoch, holder, value, ttl. Held by this holder under this
 * epoch: renewed. Missing or under a lower epoch (Redis lost the hand-over that gave it this
 * epoch, or the lease itself) and no higher epoch given: written again, the higher epoch wins.
 */
const RENEW = `
local mine = tonumber(ARGV[1])
local counter = tonumber(redis.call('GET', KEYS[2]) or '0')
local current = redis.call('GET', KEYS[1])
if current then
  local epoch, holder = string.match(current, '^(%d+) (%S+)')
  epoch = tonumber(epoch)
  if epoch > mine or (epoch == mine and holder ~= ARGV[2]) then return 0 end
elseif counter > mine then
  return 0
end
if counter < mine then redis.call('SET', KEYS[2], mine) end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
return 1`;

/** KEYS lease; ARGV epoch, holder. */
const RELEASE = `
local current = redis.call('GET', KEYS[1])
if current and string.match(current, '^(%d+ %S+)') == ARGV[1] .. ' ' .. ARGV[2] then redis.call('DEL', KEYS[1]) end
return 0`;

export async function readLeases(redis: Redis | Cluster, cameraIds: readonly string[]): Promise<LeaseReading> {
  const results = await eachCamera(cameraIds, (cameraId) => redis.get(cameraLeaseKey(cameraId)));
  const leases = new Map<string, CameraLease | null>();
  const unreadable = new Set<string>();
  for (const [cameraId, result] of results) {
    if (result.status === 'rejected') unreadable.add(cameraId);
    else leases.set(cameraId, parseLease(result.value));
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
  const suffix = leaseValue(0, terms).slice(1);
  const keys = [cameraLeaseKey(cameraId), cameraEpochKey(cameraId), cameraHandoverKey(cameraId)];
  const epoch = await redis.eval(TAKE, 3, ...keys, suffix, Math.ceil(terms.ttlMs), from ?? '', floor);
  return typeof epoch === 'number' ? epoch : null;
}

export async function renewLease(redis: Redis | Cluster, cameraId: string, epoch: number, terms: LeaseTerms): Promise<boolean> {
  const keys = [cameraLeaseKey(cameraId), cameraEpochKey(cameraId)];
  return (await redis.eval(RENEW, 2, ...keys, epoch, terms.holder, leaseValue(epoch, terms), Math.ceil(terms.ttlMs))) === 1;
}

export async function releaseLease(redis: Redis | Cluster, cameraId: string, holder: string, epoch: number): Promise<void> {
  await redis.eval(RELEASE, 1, cameraLeaseKey(cameraId), epoch, holder);
}

export async function reserveHandover(redis: Redis | Cluster, cameraId: string, holder: string, ttlMs: number): Promise<boolean> {
  return (await redis.set(cameraHandoverKey(cameraId), holder, 'PX', Math.ceil(ttlMs), 'NX')) === 'OK';
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
