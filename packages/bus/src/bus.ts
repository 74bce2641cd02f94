import type { EventEmitter } from 'node:events';
import type { Tier } from '@camrelay/frame';
import type { LeaseStore } from './leases.js';

/** What capture announces about a camera and gateways list in /api/cameras. */
export interface CameraInfo {
  readonly id: string;
  readonly width: number;
  readonly height: number;
  /** Frames per second measured over the last few seconds. */
  readonly fps: number;
  /** Unix milliseconds of the latest frame, or null before the first one. */
  readonly lastFrameAt: number | null;
  /** Closed because nobody watched it for CAPTURE_IDLE_AFTER; the first viewer opens it again. */
  readonly sleeping: boolean;
  /** The sizes a viewer may ask for, `WxH`: its own first, then the smaller ones; none before its first frame. */
  readonly sizes: readonly string[];
  /**
   * How it can be streamed: motion JPEG always, H.264 where its capture host has FFmpeg with
   * libx264. Absent in entries of a capture from before the H.264 tier: motion JPEG only.
   */
  readonly tiers?: readonly Tier[];
}

/** What watchedFeeds found. */
export interface WatchedFeeds {
  /** Feed ids (`CAMERA` or `CAMERA@WxH`) with a live claim. */
  readonly feeds: ReadonlySet<string>;
  /** Cameras whose claims could not be read (their shard is down): unknown, not unwatched. */
  readonly unreadable: ReadonlySet<string>;
}

/** Receives one camera's envelopes exactly as they were published (Buffers, never strings). */
export type EnvelopeListener = (envelope: Buffer) => void;

/**
 * Carries frame envelopes from capture to gateways. Two implementations: in-process (the
 * embedded default) and Redis pub/sub (distributed mode).
 *
 * Emits 'up' when it can carry frames and 'down' when it cannot (Redis unreachable). The
 * in-memory bus also emits 'watched' when a camera is claimed, so that capture in the same
 * process need not wait for its next look at the claims.
 *
 * It also holds the capture fleet's leases on the cameras (LeaseStore, see leases.ts).
 *
 * Frames, latest frames, subscriptions and claims are per feed: a camera at its own size (the
 * feed id is the camera id) or at one of its smaller sizes (`CAMERA@WxH`, see @camrelay/frame's
 * feedId); the directory, watchedFeeds and leases are per camera.
 */
export interface FrameBus extends EventEmitter, LeaseStore {
  /** True while frames can flow. */
  readonly isUp: boolean;
  /** Publishes one envelope and keeps it as the feed's latest frame. Never queues while down. */
  publishFrame(feedId: string, envelope: Buffer): Promise<void>;
  /** The feed's latest envelope, or null when there is none (or it expired). */
  latestFrame(feedId: string): Promise<Buffer | null>;
  /**
   * Publishes one segment envelope of an H.264 feed and keeps the feed's current group of
   * pictures for late joiners: a keyframe starts it afresh, and it holds MAX_KEPT_SEGMENTS at most.
   */
  publishSegment(feedId: string, envelope: Buffer, keyframe: boolean): Promise<void>;
  /** An H.264 feed's current group of pictures, oldest first; empty when there is none (or it expired). */
  latestSegments(feedId: string): Promise<Buffer[]>;
  /** One listener per feed; subscribing twice to a feed is a programming error. */
  subscribe(feedId: string, listener: EnvelopeListener): Promise<void>;
  unsubscribe(feedId: string): Promise<void>;
  /**
   * Records the capture's cameras so that any gateway can list them. An entry not announced
   * again within ttlMs (DIRECTORY_ENTRY_TTL_MS; a camera removed from CAMERAS) leaves the directory.
   */
  announceCameras(cameras: readonly CameraInfo[], ttlMs?: number): Promise<void>;
  /** Every camera announced: those whose entry cannot be read now (a Redis Cluster shard down) are left out. */
  listCameras(): Promise<CameraInfo[]>;
  /** One camera's entry, read from the camera's own slot alone; null if it has none. */
  cameraInfo(cameraId: string): Promise<CameraInfo | null>;
  /**
   * Says that `holder` (one gateway) has viewers of these feeds, for the next `ttlMs`: capture
   * keeps a camera open while anyone's claim on one of its feeds is live, and encodes the
   * smaller sizes claimed. A holder renews its claims well within the time; one that dies
   * without a word loses them when they expire.
   */
  markWatched(holder: string, feedIds: readonly string[], ttlMs: number): Promise<void>;
  /** Withdraws the holder's claim on a feed at once (its last viewer here left). */
  unmarkWatched(holder: string, feedId: string): Promise<void>;
  /**
   * The feeds of these cameras with at least one live claim, whoever holds it; each camera's
   * claims read from its own slot, and the cameras whose claims cannot be read now named apart.
   */
  watchedFeeds(cameraIds: readonly string[]): Promise<WatchedFeeds>;
  /**
   * A secret shared by every process on this bus: the one stored under `name`, or `candidate`,
   * stored, when there is none (the first to ask sets it). Asked again with the secret in use,
   * it converges after Redis lost it (a restart without persistence).
   */
  sharedSecret(name: string, candidate: string): Promise<string>;
  /**
   * Stores a new secret under `name` (a rotation): processes that share it adopt it the next
   * time they ask. Replaced, never deleted: a deleted secret is offered back by whoever holds it.
   */
  replaceSharedSecret(name: string, secret: string): Promise<void>;
  close(): Promise<void>;
}

/** How long a latest frame (or group of pictures) stays readable after it was published. */
export const LATEST_FRAME_TTL_MS = 10_000;

/**
 * The most segments kept of an H.264 feed's group of pictures: 10 s at 30 fps. Capture asks for
 * a keyframe every second; a group longer than this (an encoder that never sends one) keeps
 * its newest segments, and a late joiner waits for the next keyframe.
 */
export const MAX_KEPT_SEGMENTS = 300;

/**
 * How long a camera stays in the directory after it was last announced (capture announces
 * every second): a camera removed from CAMERAS is gone within a minute, while one whose
 * capture restarts stays listed, with online false.
 */
export const DIRECTORY_ENTRY_TTL_MS = 60_000;
