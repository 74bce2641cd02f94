/**
 * The capture fleet: every capture instance started with the same CAMERAS on the same bus
 * shares those cameras with the others. Each camera is held by one instance at a time, under a
 * lease in Redis (@camrelay/bus's leases) that its holder renews; each new holder's lease has
 * a higher fencing epoch, and its frames carry it, so that gateways drop a stale holder's frames.
 *
 * Every instance looks at the leases every renewEveryMs and:
 * - renews its own; one renewal refused means the camera is someone else's now: it stops it;
 * - takes free cameras (never held, or their holder died and its lease expired) while it holds
 *   fewer than its share (the cameras divided by the live members, rounded up);
 * - takes over, one hand-over at a time each, the cameras of a holder that is leaving (SIGTERM),
 *   and of a member holding two or more cameras more than itself (a new instance joined): it
 *   opens the camera first, in standby, and takes the lease at its first frame, so the camera
 *   is dark for no more than a frame.
 */
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { CameraInfo, CameraLease, FrameBus, LeaseReading } from '@camrelay/bus';
import { MAX_EPOCH } from '@camrelay/frame';
import type { CameraSpec } from '../cameras.js';
import type { HeldCamera } from './held-camera.js';

export interface FleetOptions {
  readonly bus: FrameBus;
  readonly cameras: readonly CameraSpec[];
  readonly log: Logger;
  /** Makes the holding of one camera: awake (opened now) or asleep; `known` is its directory entry. */
  readonly hold: (spec: CameraSpec, awake: boolean, known: CameraInfo | null) => HeldCamera;
  readonly leaseTtlMs: number;
  readonly renewEveryMs: number;
  /** A hand-over whose camera gives no frame in this time is given up (the old holder keeps it). */
  readonly handoverTimeoutMs: number;
  /** Hand-overs this instance runs at once. */
  readonly maxHandovers: number;
}

/** The fleet of capture instances with these cameras: the same CAMERAS, the same fleet. */
export function fleetOf(cameras: readonly CameraSpec[]): string {
  return createHash('sha256').update(JSON.stringify(cameras)).digest('hex').slice(0, 16);
}

/** This instance's name in leases and in the fleet: the host, the process, and random bits against a reused pid. */
function memberName(): string {
  const host = hostname()
    .replace(/[^A-Za-z0-9_.-]/g, '_')
    .slice(0, 64);
  return `${host}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

export class Fleet {
  readonly member = memberName();
  readonly fleet: string;
  private readonly held = new Map<string, HeldCamera>();
  /** Hand-overs under way: the camera opened in standby, and the epoch of the lease it takes over. */
  private readonly handovers = new Map<string, { camera: HeldCamera; from: number }>();
  /** The highest epoch seen per camera: a floor for the next one, should Redis lose its counter. */
  private readonly seenEpochs = new Map<string, number>();
  private readonly specs: ReadonlyMap<string, CameraSpec>;
  private readonly ids: readonly string[];
  private readonly timer: NodeJS.Timeout;
  private looking: Promise<void> | null = null;
  private leaving = false;
  /** The live members at the last look, this one included. */
  members: readonly string[] = [];
  /** Leases this instance lost to another (taken over, or its renewal came too late). */
  leasesLost = 0;
  /** Cameras taken: free ones, and hand-overs. */
  readonly taken = { free: 0, handover: 0 };

  constructor(private readonly options: FleetOptions) {
    this.fleet = fleetOf(options.cameras);
    this.specs = new Map(options.cameras.map((spec) => [spec.id, spec]));
    this.ids = options.cameras.map((spec) => spec.id);
    this.timer = setInterval(() => void this.look(), options.renewEveryMs);
    this.timer.unref();
  }

  /** The cameras this instance holds now. */
  cameras(): HeldCamera[] {
    return [...this.held.values()];
  }

  /** Looks at once (start-up), rather than at the next tick. */
  look(): Promise<void> {
    if (this.looking) return this.looking;
    // A look that does not end (a command that never answers) must not stop the renewals for
    // good: after a few lease times the next look goes ahead.
    const ended = new AbortController();
    const stuck = sleep(this.options.leaseTtlMs * 4, 'stuck' as const, { signal: ended.signal }).catch(() => 'ended' as const);
    this.looking = Promise.race([this.lookOnce(), stuck])
      .then((outcome) => {
        if (outcome === 'stuck') this.options.log.warn('fleet: a look at the leases did not end; looking again');
      })
      .catch((error: Error) => this.options.log.debug({ err: error.message }, 'fleet: leases not read'))
      .finally(() => {
        ended.abort();
        this.looking = null;
      });
    return this.looking;
  }

  /**
   * Hands every camera over to the other members and stops: each is taken by another instance
   * (which opens it first), or, with nobody to take it within `withinMs`, released and closed.
   */
  async leave(withinMs: number): Promise<void> {
    this.leaving = true;
    await this.options.bus.leaveFleet(this.fleet, this.member).catch(() => undefined);
    for (const { camera } of this.handovers.values()) await camera.stop();
    this.handovers.clear();
    const deadline = performance.now() + withinMs;
    const others = () => this.members.length > 0;
    while (this.held.size > 0 && others() && performance.now() < deadline) {
      await this.look();
      await sleep(this.options.renewEveryMs / 2);
    }
    clearInterval(this.timer);
    await this.looking;
    await Promise.all(
      [...this.held.values()].map(async (camera) => {
        const epoch = camera.leaseEpoch;
        await camera.stop();
        if (epoch !== null) await this.options.bus.releaseLease(camera.id, this.member, epoch).catch(() => undefined);
      }),
    );
    this.held.clear();
  }

  private async lookOnce(): Promise<void> {
    const { bus } = this.options;
    this.members = (
      this.leaving ? await bus.fleetMembers(this.fleet) : await bus.joinFleet(this.fleet, this.member, this.options.leaseTtlMs)
    ).sort();
    const reading = await bus.readLeases(this.ids);
    for (const [id, lease] of reading.leases) if (lease) this.seeEpoch(id, lease.epoch);
    await Promise.all([...this.held.values()].map((camera) => this.renew(camera)));
    if (!this.leaving) await this.balance(reading);
  }

  private async renew(camera: HeldCamera): Promise<void> {
    const epoch = camera.leaseEpoch;
    if (epoch === null) return;
    const terms = { holder: this.member, ttlMs: this.options.leaseTtlMs, leaving: this.leaving, awake: !camera.sleeping };
    // A renewal that fails (Redis down) keeps the camera: frames flow again the moment Redis is
    // back, and should another instance have taken it meanwhile, its higher epoch wins.
    const kept = await this.options.bus.renewLease(camera.id, epoch, terms).catch(() => true);
    if (kept || this.held.get(camera.id) !== camera) return;
    this.held.delete(camera.id);
    this.leasesLost++;
    this.options.log.info({ camera: camera.id, epoch }, 'camera now held by another capture instance; closing it here');
    // Not awaited: a worker slow to exit must not hold up the renewals of the other cameras.
    void camera.stop();
  }

  private async balance({ leases, unreadable }: LeaseReading): Promise<void> {
    const share = Math.ceil(this.ids.length / Math.max(1, this.members.length));
    const count = () => this.held.size + this.handovers.size;
    const byMember = new Map<string, string[]>();
    for (const [id, lease] of leases) {
      if (lease && lease.holder !== this.member && this.members.includes(lease.holder))
        byMember.set(lease.holder, [...(byMember.get(lease.holder) ?? []), id]);
    }
    for (const id of this.ids) {
      if (count() >= share) return;
      if (unreadable.has(id) || this.held.has(id) || this.handovers.has(id)) continue;
      const lease = leases.get(id);
      if (lease === null) await this.takeFree(id);
      else if (lease?.leaving && lease.holder !== this.member && this.handovers.size < this.options.maxHandovers)
        await this.startHandover(id, lease);
    }
    // A member with two or more cameras more than this one gives one up, one at a time.
    if (this.handovers.size > 0) return;
    const [richest, theirs] = [...byMember].sort((a, b) => b[1].length - a[1].length || a[0].localeCompare(b[0]))[0] ?? [];
    if (!richest || !theirs || theirs.length < count() + 2) return;
    const id = theirs[theirs.length - 1]!;
    await this.startHandover(id, leases.get(id)!);
  }

  private async takeFree(id: string): Promise<void> {
    const { bus, log } = this.options;
    const epoch = await bus.takeLease(id, this.terms(true), null, this.seenEpochs.get(id) ?? 0);
    if (epoch === null) return;
    this.seeEpoch(id, epoch);
    const camera = this.options.hold(this.specs.get(id)!, true, await bus.cameraInfo(id).catch(() => null));
    camera.publishUnder(epoch);
    this.held.set(id, camera);
    this.taken.free++;
    log.info({ camera: id, epoch }, 'camera taken: nobody held it');
  }

  private async startHandover(id: string, lease: CameraLease): Promise<void> {
    const { bus, log, handoverTimeoutMs } = this.options;
    if (!(await bus.reserveHandover(id, this.member, handoverTimeoutMs))) return;
    const known = await bus.cameraInfo(id).catch(() => null);
    const spec = this.specs.get(id)!;
    // A device opens once at a time: its new holder takes the lease first and opens it once the
    // old one has let go (at its next renewal; a busy device is retried with backoff). An asleep
    // camera has nothing to open first.
    const standby = lease.awake && spec.source.kind !== 'device' && spec.source.kind !== 'auto';
    const camera = this.options.hold(spec, lease.awake, known);
    this.handovers.set(id, { camera, from: lease.epoch });
    log.info({ camera: id, from: lease.holder, epoch: lease.epoch, standby }, 'camera hand-over');
    const ready = standby ? Promise.race([camera.firstFrame.then(() => true), sleep(handoverTimeoutMs, false)]) : true;
    void Promise.resolve(ready).then(async (opened) => {
      const epoch =
        opened && !this.leaving
          ? await bus.takeLease(id, this.terms(lease.awake), lease.epoch, this.seenEpochs.get(id) ?? 0).catch(() => null)
          : null;
      this.handovers.delete(id);
      if (epoch === null) {
        log.info({ camera: id, opened }, 'camera hand-over given up');
        await camera.stop();
        return;
      }
      this.seeEpoch(id, epoch);
      camera.publishUnder(epoch);
      this.held.set(id, camera);
      this.taken.handover++;
      log.info({ camera: id, epoch, from: lease.holder }, 'camera taken over');
    });
  }

  private terms(awake: boolean) {
    return { holder: this.member, ttlMs: this.options.leaseTtlMs, leaving: false, awake };
  }

  private seeEpoch(id: string, epoch: number): void {
    if (epoch > MAX_EPOCH) this.options.log.error({ camera: id, epoch }, 'camera epoch past its 21 bits: sequences will wrap');
    if (epoch > (this.seenEpochs.get(id) ?? 0)) this.seenEpochs.set(id, epoch);
  }
}
