import type { Logger } from 'pino';
import type { FrameBus } from '@camrelay/bus';
import { LATEST_FRAME_TTL_MS } from '@camrelay/bus';
import type { Frame, Segment } from '@camrelay/frame';
import { ENVELOPE_HEADER_BYTES, decodeEnvelope, decodeSegment, parseFeedId } from '@camrelay/frame';
import { FeedClaims } from '../shared-state/feed-claims.js';
import { Fanout } from './fanout.js';
import type { FanoutCounters, SignalRules } from './fanout.js';
import { NO_SIGNAL_JPEGS, STARTING_JPEGS } from './no-signal-images.js';
import { VideoFanout } from './video-fanout.js';

/** A feed's fanout here: motion JPEG (Fanout) or H.264 (VideoFanout). */
export type AnyFanout = Fanout | VideoFanout;

/** How far ahead of this gateway's clock a capture host's clock may run (NTP keeps it to milliseconds). */
const MAX_CLOCK_AHEAD_MS = 2000;

/** What Feeds is given: the gateway's settings, every default applied (withDefaults). */
export interface FeedsOptions {
  readonly bus: FrameBus;
  readonly log: Logger;
  /** How long a feed stays subscribed after its last viewer leaves. */
  readonly lingerMs: number;
  /** Without frames for this long a feed's viewers get the NO SIGNAL picture. */
  readonly noSignalAfterMs: number;
  /** A feed that sends nothing after its first viewer arrived is "starting" this long, then NO SIGNAL. */
  readonly startingForMs: number;
  /** How long this gateway's claim on a feed lasts unless renewed. */
  readonly claimTtlMs: number;
  /** A viewer whose socket has not drained for this long is cut. */
  readonly stuckViewerMs: number;
  /** Envelopes carrying a larger JPEG are dropped unread. */
  readonly maxFrameBytes: number;
}

/**
 * The feeds this gateway is watching: one bus subscription per feed, whatever the number of
 * viewers. A feed is a camera at its own size (its id is the camera's) or at one of its smaller
 * sizes (`CAMERA@WxH`). Subscribes on the first viewer and unsubscribes a little after the last
 * one leaves, so a page reload does not churn the subscription. Claims each watched feed on the
 * bus, so that capture keeps it open (see FeedClaims).
 */
export class Feeds {
  private readonly fanouts = new Map<string, AnyFanout>();
  /** Subscriptions under way, so that viewers arriving together share one. */
  private readonly subscribing = new Map<string, Promise<AnyFanout>>();
  private readonly lingerTimers = new Map<string, NodeJS.Timeout>();
  private readonly bus: FrameBus;
  private readonly log: Logger;
  private readonly lingerMs: number;
  private readonly stuckViewerMs: number;
  private readonly maxEnvelopeBytes: number;
  /** Feeds whose oversize frames were logged: once each, however many there are. */
  private readonly oversizeLogged = new Set<string>();
  /** Cameras whose frames from the future were logged: once each. */
  private readonly aheadLogged = new Set<string>();
  /**
   * Per feed watched here: how far its newest frame's capture time is ahead of this gateway's
   * clock on arrival, in ms. Transit makes it a few ms below 0; above MAX_CLOCK_AHEAD_MS every
   * frame is dropped, so a capture host whose clock runs ahead shows here, not as a black picture.
   */
  private readonly clockAheadMs = new Map<string, number>();
  private readonly signalWatch: NodeJS.Timeout;
  private readonly signalRules: SignalRules;
  private readonly claims: FeedClaims;
  /** Bus messages that were not valid envelopes, were too large, or came from the future. */
  droppedMessages = 0;
  /** Frames replaced by a newer one before they were sent, because this gateway was behind. */
  coalescedFrames = 0;
  /** H.264 fragments of feeds no longer watched here that could not be passed on (VideoFanout.gaps). */
  private retiredGaps = 0;
  /** Per feed: bus subscriptions ended here (its last viewer left, the linger passed, the bus unsubscribed). */
  private readonly ended = new Map<string, number>();
  /** Totals of fanouts that have since been removed, so counters never go down. */
  readonly retired: FanoutCounters = { received: 0, fenced: 0, delivered: 0, skipped: 0, opened: 0 };

  constructor(options: FeedsOptions) {
    this.bus = options.bus;
    this.log = options.log;
    this.lingerMs = options.lingerMs;
    this.stuckViewerMs = options.stuckViewerMs;
    this.maxEnvelopeBytes = ENVELOPE_HEADER_BYTES + options.maxFrameBytes;
    this.signalRules = {
      noSignalAfterMs: options.noSignalAfterMs,
      startingForMs: options.startingForMs,
      noSignalPictures: NO_SIGNAL_JPEGS,
      startingPictures: STARTING_JPEGS,
    };
    const claimTtlMs = options.claimTtlMs;
    this.claims = new FeedClaims({ bus: this.bus, log: this.log, ttlMs: claimTtlMs, renewEveryMs: claimTtlMs / 3 });
    // One timer for every feed: a camera that went quiet (capture stopped, camera lost, bus
    // down) must not leave its viewers looking at a frozen picture that seems live.
    this.signalWatch = setInterval(() => {
      const now = performance.now();
      for (const fanout of this.fanouts.values()) {
        if (fanout instanceof Fanout && fanout.viewerCount > 0) fanout.checkSignal(now, this.signalRules);
      }
    }, 250);
    this.signalWatch.unref();
  }

  /**
   * A hold on the feed, subscribing to it if nobody here watched it: its fanout, to add a viewer
   * to, and release(), which gives the hold back once however often it is called. Every lease
   * is released: by the viewer's leaving, or by whoever took it if no viewer came of it.
   */
  async watch(feed: string, asleep = false): Promise<FeedLease<Fanout>> {
    return this.hold(feed, asleep, Fanout);
  }

  /** As watch(), for an H.264 feed (`CAMERA+h264`, `CAMERA@WxH+h264`). */
  async watchVideo(feed: string): Promise<FeedLease<VideoFanout>> {
    return this.hold(feed, false, VideoFanout);
  }

  private async hold<F extends AnyFanout>(feed: string, asleep: boolean, kind: new (...args: never[]) => F): Promise<FeedLease<F>> {
    // Claimed before subscribing: a sleeping camera starts opening while this gateway subscribes.
    this.claims.add(feed);
    try {
      const fanout = await this.fanoutOf(feed, asleep);
      if (!(fanout instanceof kind)) throw new Error(`feed ${feed} is not a ${kind.name} feed`);
      return new FeedLease(fanout, feed, this.unwatch);
    } catch (error) {
      this.claims.remove(feed);
      throw error;
    }
  }

  /** `asleep`: the camera directory says capture closed the camera for lack of viewers. */
  private async fanoutOf(feed: string, asleep: boolean): Promise<AnyFanout> {
    const lingering = this.lingerTimers.get(feed);
    if (lingering) {
      clearTimeout(lingering);
      this.lingerTimers.delete(feed);
    }
    const existing = this.fanouts.get(feed);
    if (existing) {
      if (asleep && existing instanceof Fanout && existing.viewerCount === 0) this.showStarting(existing);
      return existing;
    }
    let pending = this.subscribing.get(feed);
    if (!pending) {
      const subscribing = parseFeedId(feed).tier === 'h264' ? this.subscribeVideo(feed) : this.subscribe(feed, asleep);
      pending = subscribing.finally(() => this.subscribing.delete(feed));
      this.subscribing.set(feed, pending);
    }
    return pending;
  }

  private async subscribe(feed: string, asleep: boolean): Promise<Fanout> {
    const fanout = new Fanout(this.stuckViewerMs);
    // Frames that arrive together (the gateway fell behind, and Redis handed over a backlog)
    // are coalesced: only the newest is fanned out. Otherwise a busy gateway would send every
    // stale frame of the backlog to every viewer and never catch up.
    let next: Frame | null = null;
    const fanOutNext = () => {
      const frame = next!;
      next = null;
      fanout.publish(frame);
    };
    await this.bus.subscribe(feed, (envelope) => {
      const frame = this.decode(feed, envelope, true);
      if (!frame) return;
      if (next) this.coalescedFrames++;
      else setImmediate(fanOutNext);
      next = frame;
    });
    // A new viewer gets a picture at once: the latest frame, or, for a sleeping camera, the
    // STARTING picture rather than its last frame from before it slept passing for live.
    if (asleep) this.showStarting(fanout);
    else {
      const latest = await this.bus.latestFrame(feed).catch(() => null);
      const frame = latest && this.decode(feed, latest);
      if (frame) fanout.publish(frame);
    }
    this.fanouts.set(feed, fanout);
    // Its series starts at 0, so that a subscription that never ends reads as 0, not as no series.
    if (!this.ended.has(feed)) this.ended.set(feed, 0);
    this.log.debug({ camera: feed }, 'subscribed');
    return fanout;
  }

  /**
   * An H.264 feed: its segments in the order they come, none coalesced (each depends on the
   * ones before it), after the group of pictures kept on the bus, so that the first viewer
   * here starts at its keyframe. Segments that arrive while that is read wait for it.
   */
  private async subscribeVideo(feed: string): Promise<VideoFanout> {
    const fanout = new VideoFanout(this.stuckViewerMs);
    let early: Segment[] | null = [];
    await this.bus.subscribe(feed, (envelope) => {
      const segment = this.decodeSegment(feed, envelope);
      if (!segment) return;
      if (early) early.push(segment);
      else fanout.publish(segment);
    });
    const kept = await this.bus.latestSegments(feed).catch(() => []);
    for (const envelope of kept) {
      const segment = this.decodeSegment(feed, envelope);
      if (segment) fanout.publish(segment);
    }
    // Those already kept come again here: their sequence is not above the newest, and they are dropped.
    for (const segment of early) fanout.publish(segment);
    early = null;
    this.fanouts.set(feed, fanout);
    if (!this.ended.has(feed)) this.ended.set(feed, 0);
    this.log.debug({ camera: feed }, 'subscribed');
    return fanout;
  }

  private decodeSegment(feed: string, envelope: Buffer): Segment | null {
    if (envelope.length > this.maxEnvelopeBytes) {
      this.droppedMessages++;
      return null;
    }
    try {
      return decodeSegment(envelope);
    } catch (error) {
      this.droppedMessages++;
      this.log.debug({ camera: feed, err: (error as Error).message }, 'dropped a malformed bus message');
      return null;
    }
  }

  private showStarting(fanout: Fanout): void {
    fanout.expectStart();
    fanout.checkSignal(performance.now(), this.signalRules);
  }

  /**
   * The feed's newest frame, for a snapshot, which counts as a look at the feed (claimed for a
   * while: see FeedClaims.touch). A sleeping camera (`asleep`), or one whose newest
   * frame is older than noSignalAfterMs (a smaller size nobody watched lately), is woken and
   * its next frame awaited for up to waitMs, rather than answer with an old picture; if none
   * comes, the newest there is, or null.
   */
  async freshFrame(feed: string, waitMs: number, asleep: boolean): Promise<Frame | null> {
    this.claims.touch(feed);
    const latest = await this.latestFrame(feed);
    if (latest && !asleep && Date.now() - latest.capturedAt < this.signalRules.noSignalAfterMs) return latest;
    const lease = await this.watch(feed);
    try {
      return (await lease.fanout.nextLiveFrame(waitMs)) ?? latest;
    } finally {
      lease.release();
    }
  }

  /** A lease given back: starts the linger timer once the feed has no viewers left; the subscription ends when it fires. */
  private readonly unwatch = (feed: string): void => {
    this.claims.remove(feed);
    const fanout = this.fanouts.get(feed);
    if (!fanout || fanout.viewerCount > 0 || this.lingerTimers.has(feed)) return;
    const timer = setTimeout(() => {
      this.lingerTimers.delete(feed);
      if (fanout.viewerCount > 0) return;
      this.fanouts.delete(feed);
      this.clockAheadMs.delete(feed);
      for (const field of ['received', 'fenced', 'delivered', 'skipped', 'opened'] as const) this.retired[field] += fanout.counters[field];
      if (fanout instanceof VideoFanout) this.retiredGaps += fanout.gaps;
      this.bus.unsubscribe(feed).then(
        () => {
          this.ended.set(feed, (this.ended.get(feed) ?? 0) + 1);
          this.log.debug({ camera: feed }, 'unsubscribed');
        },
        (error: Error) => this.log.warn({ camera: feed, err: error.message }, 'unsubscribe failed'),
      );
    }, this.lingerMs);
    timer.unref();
    this.lingerTimers.set(feed, timer);
  };

  /** The newest frame of a feed: from the live fanout if watched here, else from the bus. */
  async latestFrame(feed: string): Promise<Frame | null> {
    const watched = this.fanouts.get(feed);
    const live = watched instanceof Fanout ? watched.latestLive : null;
    if (live && Date.now() - live.capturedAt < LATEST_FRAME_TTL_MS) return live;
    const envelope = await this.bus.latestFrame(feed);
    return envelope ? this.decode(feed, envelope) : null;
  }

  /** Whether this gateway has a viewer of the feed now. */
  isWatched(feed: string): boolean {
    return (this.fanouts.get(feed)?.viewerCount ?? 0) > 0;
  }

  get all(): ReadonlyMap<string, AnyFanout> {
    return this.fanouts;
  }

  /** Per feed ever watched here: how many times its bus subscription ended (camrelay_subscriptions_ended_total). */
  get subscriptionsEnded(): ReadonlyMap<string, number> {
    return this.ended;
  }

  /** H.264 fragments not passed on because one before them never came (VideoFanout.gaps), over every feed. */
  get videoGaps(): number {
    let gaps = this.retiredGaps;
    for (const fanout of this.fanouts.values()) if (fanout instanceof VideoFanout) gaps += fanout.gaps;
    return gaps;
  }

  /** Feeds this gateway claims for its viewers (see FeedClaims.held). */
  get claimedFeeds(): number {
    return this.claims.held;
  }

  /** Claim updates that failed (see FeedClaims.failures). */
  get claimFailures(): number {
    return this.claims.failures;
  }

  /** How far ahead of this gateway's clock a watched feed's newest frame was captured, in ms; undefined before its first frame. */
  clockAheadOf(feed: string): number | undefined {
    return this.clockAheadMs.get(feed);
  }

  /** Ends every open stream (shutdown); the subscriptions stay until close(). */
  endAllStreams(): void {
    for (const fanout of this.fanouts.values()) fanout.endAll();
  }

  /** Ends every open stream and drops every subscription (shutdown). */
  async close(): Promise<void> {
    clearInterval(this.signalWatch);
    await this.claims.close();
    for (const timer of this.lingerTimers.values()) clearTimeout(timer);
    this.lingerTimers.clear();
    for (const [feed, fanout] of this.fanouts) {
      fanout.endAll();
      await this.bus.unsubscribe(feed).catch(() => undefined);
    }
    this.fanouts.clear();
  }

  /** A camera's frames from the future, logged once per camera: every one of its frames is likely dropped. */
  private aheadOfClock(feed: string, aheadMs: number): void {
    const { cameraId } = parseFeedId(feed);
    if (this.aheadLogged.has(cameraId)) return;
    this.aheadLogged.add(cameraId);
    const seconds = Math.round(aheadMs / 100) / 10;
    this.log.warn(
      { camera: cameraId, aheadSeconds: seconds },
      `dropping frames captured ${seconds} s ahead of this gateway's clock (at most ${MAX_CLOCK_AHEAD_MS / 1000} s allowed): ` +
        "the capture host's clock runs ahead, or frames are forged; check time sync (NTP) on both hosts " +
        '(logged once per camera; camrelay_camera_clock_skew_seconds, camrelay_bus_messages_dropped_total)',
    );
  }

  /**
   * A frame from the bus, or null for one to drop and count: malformed, or captured further in
   * the future than clocks drift. A frame from the future would outrank every real frame after
   * it (Fanout keeps the newer of two) and pass as a fresh snapshot until its time came.
   */
  private decode(feed: string, envelope: Buffer, live = false): Frame | null {
    if (envelope.length > this.maxEnvelopeBytes) {
      this.droppedMessages++;
      if (!this.oversizeLogged.has(feed)) {
        this.oversizeLogged.add(feed);
        this.log.warn(
          { camera: feed, bytes: envelope.length },
          'dropped a frame larger than MAX_FRAME_BYTES (logged once per camera; counted in camrelay_bus_messages_dropped_total)',
        );
      }
      return null;
    }
    let frame: Frame;
    try {
      frame = decodeEnvelope(envelope);
    } catch (error) {
      this.droppedMessages++;
      this.log.debug({ err: (error as Error).message }, 'dropped a malformed bus message');
      return null;
    }
    const aheadMs = frame.capturedAt - Date.now();
    // Only a frame as it arrives measures the clocks: a stored latest frame is older by its age.
    if (live) this.clockAheadMs.set(feed, aheadMs);
    if (aheadMs > MAX_CLOCK_AHEAD_MS) {
      this.droppedMessages++;
      this.aheadOfClock(feed, aheadMs);
      return null;
    }
    return frame;
  }
}

/**
 * A viewer's (or a snapshot's) hold on a feed, from Feeds.watch: the feed stays subscribed and
 * claimed while any lease on it is held. One object a viewer, made when it arrives.
 */
export class FeedLease<F extends AnyFanout = Fanout> {
  private released = false;

  constructor(
    readonly fanout: F,
    private readonly feed: string,
    private readonly unwatch: (feed: string) => void,
  ) {}

  /** Gives the hold back; once, however often it is called (as ViewerLimits.admit's release). */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.unwatch(this.feed);
  }
}
