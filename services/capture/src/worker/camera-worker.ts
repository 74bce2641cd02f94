/**
 * One camera in a process of its own (see isolated-camera.ts). Opening a camera blocks
 * (OpenCV's VideoCapture constructor is synchronous: seconds for a network camera that
 * accepts and never answers), and OpenCV or FFmpeg may crash on a bad stream: here either
 * costs this camera alone. Envelopes go to capture through the frame pipe; capture stamps
 * them with the lease's epoch and publishes them.
 */
import { once } from 'node:events';
import { Socket } from 'node:net';
import { pino } from 'pino';
import { Camera } from '../camera/camera.js';
import { loadOpenCV } from '../opencv.js';
import type { FrameSink } from '../publisher.js';
import { FRAME_PIPE_FD, framePrefix } from './protocol.js';
import type { FromWorker, ToWorker, WorkerCounters } from './protocol.js';

const send = (message: FromWorker) => {
  if (process.connected) process.send?.(message);
};

// Capture gone (killed, crashed): so is its camera.
process.on('disconnect', () => process.exit(0));

// Listening before OpenCV loads: a spare worker (pool.ts) loads it before its camera is
// known, and a message with no listener would be lost.
let watchedSizes: ReadonlySet<string> | null = null;
const running: { camera?: Camera } = {};
process.on('message', (message: ToWorker) => {
  if (message.type !== 'sizes') return;
  watchedSizes = new Set(message.sizes);
  running.camera?.watchSizes(watchedSizes);
});
const started = once(process, 'message') as Promise<[ToWorker]>;
// This process's environment, which OpenCV reads: loadOpenCV sets its defaults there first.
const cv = await loadOpenCV(process.env);
send({ type: 'ready' });
const [start] = await started;
if (start.type !== 'start') throw new Error('camera worker: expected the start message first');
const { settings } = start;

const log = pino({ name: 'capture', level: settings.logLevel });
const pipe = new Socket({ fd: FRAME_PIPE_FD, readable: false, writable: true });
pipe.on('error', () => process.exit(0));

/** One envelope written at a time per feed (publisher.ts): a stalled capture makes the camera drop frames here, bounded. */
const sink: FrameSink = {
  publishFrame(feed, envelope) {
    return new Promise((resolve, reject) => {
      pipe.cork();
      pipe.write(framePrefix(feed, envelope.length));
      pipe.write(envelope, (error) => (error ? reject(error) : resolve()));
      pipe.uncork();
    });
  },
};

const camera = new Camera(settings.spec, {
  cv,
  sink,
  jpegQuality: settings.jpegQuality,
  mjpegPassthrough: settings.mjpegPassthrough,
  maxFrameBytes: settings.maxFrameBytes,
  maxSourceSize: settings.maxSourceSize,
  log,
  onFirstFrame: (camera, jpegBytes) => send({ type: 'first-frame', jpegBytes, info: camera.info(), counters: counters() }),
});
camera.watchSizes(watchedSizes ?? new Set(settings.sizes));
running.camera = camera;

function counters(): WorkerCounters {
  return {
    framesCaptured: camera.framesCaptured,
    droppedFrames: camera.droppedFrames,
    unchangedFrames: camera.unchangedFrames,
    oversizeFrames: camera.oversizeFrames,
    opens: camera.opens,
    openFailures: camera.openFailures,
    scaleFailures: camera.scaleFailures,
    scaledFrames: Object.fromEntries(camera.scaledFrames),
    h264Frames: camera.videoCounts.encoded,
    h264Behind: camera.videoCounts.behind,
  };
}
// Also the heartbeat: a worker whose event loop is stuck in native code falls silent, and is replaced.
const report = setInterval(() => send({ type: 'status', info: camera.info(), counters: counters() }), settings.statusEveryMs);
send({ type: 'status', info: camera.info(), counters: counters() });

process.on('SIGTERM', () => {
  clearInterval(report);
  void camera.stop().finally(() => process.exit(0));
});
camera.start();
