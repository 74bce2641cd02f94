/**
 * Leases: how the capture instances of a fleet share the cameras. Each camera is held by one
 * instance at a time under a lease in Redis that its holder renews; every lease carries a
 * fencing epoch, higher for each new holder, which its frames carry (see @camrelay/frame's
 * epoch), so that gateways can drop a stale holder's frames.
 */

/** A camera's lease as read. */
export interface CameraLease {
  /** The capture instance holding the camera. */
  readonly holder: string;
  readonly epoch: number;
  /** The holder is shutting down and wants another instance to take the camera over. */
  readonly leaving: boolean;
  /** The holder has the camera open (false while it sleeps for lack of viewers). */
  readonly awake: boolean;
}

/** What a holder writes with each renewal. */
export interface LeaseTerms {
  readonly holder: string;
  readonly ttlMs: number;
  readonly leaving: boolean;
  readonly awake: boolean;
}

export interface LeaseReading {
  /** Each readable camera's lease, or null when nobody holds it. */
  readonly leases: ReadonlyMap<string, CameraLease | null>;
  /** Cameras whose lease could not be read (their Redis Cluster shard is down): unknown, not free. */
  readonly unreadable: ReadonlySet<string>;
}

export interface LeaseStore {
  readLeases(cameraIds: readonly string[]): Promise<LeaseReading>;
  /**
   * Takes a camera: when nobody holds it (`from` null), or from the holder whose lease has
   * epoch `from` (a hand-over). The new epoch is above every epoch given for the camera, and
   * above `floor` (the highest this instance has seen, in case Redis lost the counter). Null
   * when the lease is not as expected (another instance was quicker).
   */
  takeLease(cameraId: string, terms: LeaseTerms, from: number | null, floor: number): Promise<number | null>;
  /**
   * Renews a lease held under `epoch`. Also writes it again when Redis lost it (a restart, a
   * failover) and no higher epoch has been given since: the higher epoch wins. False when the
   * camera is someone else's now.
   */
  renewLease(cameraId: string, epoch: number, terms: LeaseTerms): Promise<boolean>;
  /** Gives a camera up at once (a holder that stops without a successor). */
  releaseLease(cameraId: string, holder: string, epoch: number): Promise<void>;
  /** Marks `holder` as the one instance opening the camera to take it over, for ttlMs; false if another is. */
  reserveHandover(cameraId: string, holder: string, ttlMs: number): Promise<boolean>;
  /** Renews `member`'s place in a fleet for ttlMs and returns the fleet's live members, itself included. */
  joinFleet(fleet: string, member: string, ttlMs: number): Promise<string[]>;
  /** The fleet's live members. */
  fleetMembers(fleet: string): Promise<string[]>;
  leaveFleet(fleet: string, member: string): Promise<void>;
}
