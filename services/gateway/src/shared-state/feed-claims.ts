import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { FrameBus } from '@camrelay/bus';

export interface FeedClaimsOptions {
  readonly bus: FrameBus;
  readonly log: Logger;
  /** How long a claim lasts unless renewed: a gateway that dies holds its feeds this long at most. */
  readonly ttlMs: number;
  /** How often live claims are renewed; well within ttlMs, so one lost renewal loses nothing. */
  readonly renewEveryMs: number;
  /**
   * Redis refused this gateway's user the claim script (it lacks +eval, or a command the script
   * runs): no camera would ever be claimed, so a sleeping camera never opens. By default the
   * message is logged (fatal) and the process exits with code 1.
   */
  readonly onRefused?: (message: string) => void;
}

/**
 * A feed no camera has (camera ids cannot hold a "."): the first time Redis answers, a claim on
 * it, lasting 1 ms, shows whether this gateway's user may run the claim script at all.
 */
const PROBE_FEED = 'camrelay.claims-probe';

/** How Redis refuses a command (NOPERM), or a command inside a script (Redis 7.0's wording). */
const REFUSED = /^NOPERM |^ERR The user executing the script can't /;

/**
 * This gateway's claims on the feeds its viewers watch (streams and snapshots), on the bus,
 * where capture reads them to know which cameras to keep open and which sizes to encode. A
 * feed is claimed when its first viewer here arrives and withdrawn when its last one leaves;
 * claims are renewed on a timer and again whenever the bus comes back (a restarted Redis has
 * forgotten them).
 */
export class FeedClaims {
  /** Names this gateway's claims; a new one per process. */
  readonly holder = randomUUID();
  private readonly viewers = new Map<string, number>();
  /** When each feed was last claimed for a passing look (performance.now()). */
  private readonly touched = new Map<string, number>();
  private readonly renewal: NodeJS.Timeout;
  /** Claim updates (claims, renewals, withdrawals) that failed, for /metrics. */
  failures = 0;
  /** The claim script ran once on this Redis (see PROBE_FEED). */
  private allowed = false;
  private probing = false;
  /** Claims have failed since they last succeeded: only the first failure while the bus is up is a warning. */
  private failing = false;
  private readonly renewAll = () => {
    if (!this.allowed) this.probe();
    this.mark([...this.viewers.keys()]);
    const stale = performance.now() - this.options.ttlMs;
    for (const [feed, at] of this.touched) if (at < stale) this.touched.delete(feed);
  };

  constructor(private readonly options: FeedClaimsOptions) {
    this.renewal = setInterval(this.renewAll, options.renewEveryMs);
    this.renewal.unref();
    // The in-memory bus never goes up or down, and refuses nothing: it is never probed.
    options.bus.on('up', this.renewAll);
  }

  /** A viewer of the feed arrived. */
  add(feed: string): void {
    const count = this.viewers.get(feed) ?? 0;
    this.viewers.set(feed, count + 1);
    if (count === 0) this.mark([feed]);
  }

  /**
   * A passing look at the feed (a snapshot): claimed for one claim's time, not renewed. A
   * client polling snapshots keeps the camera open, and a smaller size encoded, between polls.
   */
  touch(feed: string): void {
    if (this.viewers.has(feed)) return;
    // Many pages polling the same feed's snapshots claim it once per renewal period, not once each.
    const now = performance.now();
    if (now - (this.touched.get(feed) ?? Number.NEGATIVE_INFINITY) < this.options.renewEveryMs) return;
    this.touched.set(feed, now);
    this.mark([feed]);
  }

  /**
   * Feeds claimed for viewers here, renewed while they stay. A snapshot's one-off claim
   * (touch) is not counted: it lapses by itself.
   */
  get held(): number {
    return this.viewers.size;
  }

  /** A viewer of the feed left. */
  remove(feed: string): void {
    const count = this.viewers.get(feed);
    if (count === undefined) return;
    if (count > 1) {
      this.viewers.set(feed, count - 1);
      return;
    }
    this.viewers.delete(feed);
    this.touched.delete(feed); // its claim is withdrawn: the next look claims it again
    this.options.bus.unmarkWatched(this.holder, feed).catch((error: Error) => this.failed(error));
  }

  /** Withdraws every claim (shutdown): capture need not wait for them to expire. */
  async close(): Promise<void> {
    clearInterval(this.renewal);
    this.options.bus.off('up', this.renewAll);
    const feeds = [...this.viewers.keys()];
    this.viewers.clear();
    this.touched.clear();
    await Promise.all(feeds.map((feed) => this.options.bus.unmarkWatched(this.holder, feed).catch(() => undefined)));
  }

  private mark(feeds: string[]): void {
    if (feeds.length === 0) return;
    this.options.bus.markWatched(this.holder, feeds, this.options.ttlMs).then(
      () => (this.failing = false),
      (error: Error) => this.failed(error),
    );
  }

  /**
   * Runs the claim script once, when Redis first answers: a user without the permission must
   * stop the gateway at start, not leave it serving while no camera it is asked for ever opens.
   * Anything but a refusal (Redis gone again) is retried at the next renewal.
   */
  private probe(): void {
    if (this.probing || !this.options.bus.isUp) return;
    this.probing = true;
    this.options.bus
      .markWatched(this.holder, [PROBE_FEED], 1)
      .then(
        () => (this.allowed = true),
        (error: Error) => {
          this.failures++;
          if (REFUSED.test(error.message)) this.refused(error.message);
        },
      )
      .finally(() => (this.probing = false));
  }

  private refused(redisMessage: string): void {
    const command = /run the '(\w+)' command/.exec(redisMessage)?.[1]?.toUpperCase();
    const missing = command
      ? `the ${command} command (grant it +eval)`
      : 'a command the claim script runs (TIME, ZREMRANGEBYSCORE, ZADD, PEXPIRE on camrelay:{*}:watched)';
    const message =
      `the Redis user may not run the camera claim script: it lacks ${missing}. Redis said: ${redisMessage}. ` +
      'Without claims capture never opens a sleeping camera for this gateway; deploy/redis/users.acl has the rules a gateway needs';
    if (this.options.onRefused) this.options.onRefused(message);
    else {
      this.options.log.fatal(message);
      process.exit(1);
    }
  }

  /**
   * Renewals repeat, and the bus reports its own outages: while it is down a failure is a debug
   * line. A failure while it is up (Redis refuses, a wrong key type) is a warning, once until
   * claims succeed again; every one is counted (camrelay_claim_failures_total).
   */
  private failed(error: Error): void {
    this.failures++;
    const { log, bus } = this.options;
    if (bus.isUp && !this.failing) {
      this.failing = true;
      log.warn({ err: error.message }, 'camera claims not updated: capture may close or never open the cameras viewers here watch');
    } else log.debug({ err: error.message }, 'camera claims not updated');
  }
}
