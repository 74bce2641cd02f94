import { EventEmitter } from 'node:events';
import { parseFeedId } from '@camrelay/frame';
import type { CameraInfo, EnvelopeListener, FrameBus, WatchedFeeds } from './bus.js';
import { DIRECTORY_ENTRY_TTL_MS, LATEST_FRAME_TTL_MS, MAX_KEPT_SEGMENTS } from './bus.js';
import type { CameraLease, LeaseReading, LeaseTerms } from './leases.js';

/** The embedded default: capture and gateway in one process, frames handed over in memory. */
export class MemoryBus extends EventEmitter implements FrameBus {
  readonly isUp = true;
  private readonly envelopeListeners = new Map<string, EnvelopeListener>();
  private readonly latest = new Map<string, { envelope: Buffer; at: number }>();
  /** Per H.264 feed: its current group of pictures, and when its newest segment came. */
  private readonly pictures = new Map<string, { segments: Buffer[]; at: number }>();
  /** The directory, in announcement order, each entry with when it expires (performance.now()). */
  private readonly cameras = new Map<string, { camera: CameraInfo; expiresAt: number }>();
  private readonly secrets = new Map<string, string>();
  /** feed id → holder → when its claim expires (performance.now()). */
  private readonly claims = new Map<string, Map<string, number>>();
  /** camera id → its lease and when it expires (performance.now()). */
  private readonly leases = new Map<string, { lease: CameraLease; expiresAt: number }>();
  /** camera id → the highest epoch given. */
  private readonly epochs = new Map<string, number>();
  private readonly handovers = new Map<string, { holder: string; expiresAt: number }>();
  /** fleet → member → when its place expires (performance.now()). */
  private readonly fleets = new Map<string, Map<string, number>>();

  // The methods answer with promises, as FrameBus's Redis implementation must, but settle them at once.
  publishFrame(feedId: string, envelope: Buffer): Promise<void> {
    this.latest.set(feedId, { envelope, at: Date.now() });
    this.envelopeListeners.get(feedId)?.(envelope);
    return Promise.resolve();
  }

  latestFrame(feedId: string): Promise<Buffer | null> {
    const entry = this.latest.get(feedId);
    if (!entry || Date.now() - entry.at > LATEST_FRAME_TTL_MS) return Promise.resolve(null);
    return Promise.resolve(entry.envelope);
  }

  publishSegment(feedId: string, envelope: Buffer, keyframe: boolean): Promise<void> {
    const kept = this.pictures.get(feedId);
    const segments = keyframe || !kept ? [] : kept.segments;
    segments.push(envelope);
    if (segments.length > MAX_KEPT_SEGMENTS) segments.shift();
    this.pictures.set(feedId, { segments, at: Date.now() });
    this.envelopeListeners.get(feedId)?.(envelope);
    return Promise.resolve();
  }

  latestSegments(feedId: string): Promise<Buffer[]> {
    const kept = this.pictures.get(feedId);
    if (!kept || Date.now() - kept.at > LATEST_FRAME_TTL_MS) return Promise.resolve([]);
    return Promise.resolve([...kept.segments]);
  }

  subscribe(feedId: string, listener: EnvelopeListener): Promise<void> {
    if (this.envelopeListeners.has(feedId)) return Promise.reject(new Error(`already subscribed to feed ${feedId}`));
    this.envelopeListeners.set(feedId, listener);
    return Promise.resolve();
  }

  unsubscribe(feedId: string): Promise<void> {
    this.envelopeListeners.delete(feedId);
    return Promise.resolve();
  }

  announceCameras(cameras: readonly CameraInfo[], ttlMs = DIRECTORY_ENTRY_TTL_MS): Promise<void> {
    const expiresAt = performance.now() + ttlMs;
    // Announced again, a camera keeps its place (CAMERAS order); a new one comes last.
    for (const camera of cameras) this.cameras.set(camera.id, { camera, expiresAt });
    return Promise.resolve();
  }

  listCameras(): Promise<CameraInfo[]> {
    const now = performance.now();
    const live: CameraInfo[] = [];
    for (const [id, entry] of this.cameras) {
      if (entry.expiresAt <= now) this.cameras.delete(id);
      else live.push(entry.camera);
    }
    return Promise.resolve(live);
  }

  cameraInfo(cameraId: string): Promise<CameraInfo | null> {
    const entry = this.cameras.get(cameraId);
    return Promise.resolve(entry && entry.expiresAt > performance.now() ? entry.camera : null);
  }

  markWatched(holder: string, feedIds: readonly string[], ttlMs: number): Promise<void> {
    const expiresAt = performance.now() + ttlMs;
    for (const feedId of feedIds) {
      const holders = this.claims.get(feedId) ?? new Map<string, number>();
      holders.set(holder, expiresAt);
      this.claims.set(feedId, holders);
    }
    // In one process capture can hear of a new viewer at once, rather than at its next look.
    this.emit('watched');
    return Promise.resolve();
  }

  unmarkWatched(holder: string, feedId: string): Promise<void> {
    this.claims.get(feedId)?.delete(holder);
    return Promise.resolve();
  }

  watchedFeeds(cameraIds: readonly string[]): Promise<WatchedFeeds> {
    const now = performance.now();
    const cameras = new Set(cameraIds);
    const feeds = new Set<string>();
    for (const [feed, holders] of this.claims) {
      for (const [holder, expiresAt] of holders) if (expiresAt <= now) holders.delete(holder);
      if (holders.size === 0) this.claims.delete(feed);
      else if (cameras.has(parseFeedId(feed).cameraId)) feeds.add(feed);
    }
    return Promise.resolve({ feeds, unreadable: new Set() });
  }

  sharedSecret(name: string, candidate: string): Promise<string> {
    if (!this.secrets.has(name)) this.secrets.set(name, candidate);
    return Promise.resolve(this.secrets.get(name)!);
  }

  replaceSharedSecret(name: string, secret: string): Promise<void> {
    this.secrets.set(name, secret);
    return Promise.resolve();
  }

  // The same rules as the Redis scripts (redis-leases.ts), for a fleet inside one process.
  readLeases(cameraIds: readonly string[]): Promise<LeaseReading> {
    return Promise.resolve({ leases: new Map(cameraIds.map((id) => [id, this.leaseOf(id)])), unreadable: new Set() });
  }

  takeLease(cameraId: string, terms: LeaseTerms, from: number | null, floor: number): Promise<number | null> {
    const current = this.leaseOf(cameraId);
    if (current && current.epoch !== from) return Promise.resolve(null);
    const epoch = Math.max(this.epochs.get(cameraId) ?? 0, floor, from ?? 0) + 1;
    this.epochs.set(cameraId, epoch);
    this.setLease(cameraId, epoch, terms);
    this.handovers.delete(cameraId);
    return Promise.resolve(epoch);
  }

  renewLease(cameraId: string, epoch: number, terms: LeaseTerms): Promise<boolean> {
    const current = this.leaseOf(cameraId);
    const counter = this.epochs.get(cameraId) ?? 0;
    if (current ? current.epoch > epoch || (current.epoch === epoch && current.holder !== terms.holder) : counter > epoch)
      return Promise.resolve(false);
    this.epochs.set(cameraId, Math.max(counter, epoch));
    this.setLease(cameraId, epoch, terms);
    return Promise.resolve(true);
  }

  releaseLease(cameraId: string, holder: string, epoch: number): Promise<void> {
    const current = this.leaseOf(cameraId);
    if (current?.holder === holder && current.epoch === epoch) this.leases.delete(cameraId);
    return Promise.resolve();
  }

  reserveHandover(cameraId: string, holder: string, ttlMs: number): Promise<boolean> {
    const now = performance.now();
    const current = this.handovers.get(cameraId);
    if (current && current.expiresAt > now) return Promise.resolve(false);
    this.handovers.set(cameraId, { holder, expiresAt: now + ttlMs });
    return Promise.resolve(true);
  }

  joinFleet(fleet: string, member: string, ttlMs: number): Promise<string[]> {
    const members = this.fleets.get(fleet) ?? new Map<string, number>();
    this.fleets.set(fleet, members.set(member, performance.now() + ttlMs));
    return this.fleetMembers(fleet);
  }

  fleetMembers(fleet: string): Promise<string[]> {
    const now = performance.now();
    const members = this.fleets.get(fleet) ?? new Map<string, number>();
    for (const [member, expiresAt] of members) if (expiresAt <= now) members.delete(member);
    return Promise.resolve([...members.keys()].sort());
  }

  leaveFleet(fleet: string, member: string): Promise<void> {
    this.fleets.get(fleet)?.delete(member);
    return Promise.resolve();
  }

  private leaseOf(cameraId: string): CameraLease | null {
    const entry = this.leases.get(cameraId);
    return entry && entry.expiresAt > performance.now() ? entry.lease : null;
  }

  private setLease(cameraId: string, epoch: number, terms: LeaseTerms): void {
    const lease = { holder: terms.holder, epoch, leaving: terms.leaving, awake: terms.awake };
    this.leases.set(cameraId, { lease, expiresAt: performance.now() + terms.ttlMs });
  }

  close(): Promise<void> {
    this.envelopeListeners.clear();
    return Promise.resolve();
  }
}
