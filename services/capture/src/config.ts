import { z } from 'zod';
import { frameSize, integerIn, listenAddress, logLevel, optional, readConfig, redisTarget, redisVariables } from '@camrelay/config';
import type { Env } from '@camrelay/config';
import { parseCameras } from './cameras.js';
import { CAPTURE_DEFAULTS as D } from './defaults.js';

/** The variables capture reads, in its own process or inside another (readInProcessCaptureConfig). */
export const captureVariables = {
  CAMERAS: optional(z.string())
    .transform((value) => value ?? D.cameras)
    .transform((value, ctx) => {
      try {
        return parseCameras(value);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    }),
  JPEG_QUALITY: integerIn(1, 100, D.jpegQuality),
  /** on: an MJPEG source's JPEGs are published as delivered; off: decoded and encoded at JPEG_QUALITY. */
  MJPEG_PASSTHROUGH: optional(z.enum(['on', 'off'], { error: 'expected on or off' })).transform((value) =>
    value === undefined ? D.mjpegPassthrough : value === 'on',
  ),
  /** Encoded frames larger than this many bytes are dropped (shared with the gateways). */
  MAX_FRAME_BYTES: integerIn(1024, 256 * 1024 * 1024, D.maxFrameBytes),
  /** Frames of more pixels than WIDTHxHEIGHT are dropped before they are encoded. */
  MAX_SOURCE_SIZE: optional(frameSize).transform((value) => value ?? D.maxSourceSize),
  /** Seconds a camera stays open after its last viewer anywhere (cameras with `,always` stay open). */
  CAPTURE_IDLE_AFTER: integerIn(0, 7 * 24 * 3600, D.idleAfterMs / 1000),
  LOG_LEVEL: logLevel,
};

const captureSchema = z
  .object({
    ...captureVariables,
    ...redisVariables,
    HEALTH_PORT: integerIn(1, 65535, D.healthPort),
    HEALTH_HOST: optional(listenAddress).transform((value) => value ?? D.healthHost),
  })
  .transform(({ REDIS_URL, REDIS_CLUSTER_NODES, ...config }, ctx) => ({
    ...config,
    redis: redisTarget({ REDIS_URL, REDIS_CLUSTER_NODES }, ctx, true) ?? z.NEVER,
  }));

export type CaptureConfig = z.infer<typeof captureSchema>;

export function readCaptureConfig(env: Env): CaptureConfig {
  return readConfig(captureSchema, env);
}

/** Capture's variables when it runs inside a gateway's process, on an in-memory bus: no Redis, no health port. */
export function readInProcessCaptureConfig(env: Env) {
  return readConfig(z.object(captureVariables), env);
}

/** What startCapture takes from capture's variables, wherever capture runs. */
export function captureOptionsOf(config: ReturnType<typeof readInProcessCaptureConfig>) {
  return {
    cameras: config.CAMERAS,
    jpegQuality: config.JPEG_QUALITY,
    mjpegPassthrough: config.MJPEG_PASSTHROUGH,
    maxFrameBytes: config.MAX_FRAME_BYTES,
    maxSourceSize: config.MAX_SOURCE_SIZE,
    idleAfterMs: config.CAPTURE_IDLE_AFTER * 1000,
  };
}
