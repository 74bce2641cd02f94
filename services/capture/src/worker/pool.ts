/**
 * Camera workers started ahead of need. A worker spends most of its start-up (~0.6 s here, more
 * on a busy host) loading OpenCV; a spare has done that already, so a camera taken over from
 * a dead instance opens within the failover budget (docs/scaling.md, Cameras: capture as a fleet) rather than after it.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { FRAME_PIPE_FD } from './protocol.js';
import type { FromWorker } from './protocol.js';

const WORKER = fileURLToPath(new URL('./camera-worker.js', import.meta.url));

/** A young generation of 1 MB semi-spaces, as the gateway: a worker's garbage is one frame's, and dies young. */
const WORKER_NODE_FLAGS = ['--max-semi-space-size=1'];
/** Lower than capture's own priority (0): raising one's niceness needs no privilege. */
const WORKER_NICENESS = 5;

export class WorkerPool {
  private readonly spares: ChildProcess[] = [];
  /** Spares that said they have OpenCV loaded: taken first. */
  private readonly ready = new WeakSet<ChildProcess>();
  private closed = false;

  constructor(private readonly size: number) {
    this.refill();
  }

  /** A worker that has loaded (or is loading) OpenCV and waits for its camera. */
  take(): ChildProcess {
    const at = this.spares.findIndex((spare) => this.ready.has(spare));
    const worker = (at === -1 ? this.spares.shift() : this.spares.splice(at, 1)[0]) ?? this.spawn();
    // The next spare starts once this one's camera had its chance at the CPU.
    setImmediate(() => this.refill());
    return worker;
  }

  close(): void {
    this.closed = true;
    for (const worker of this.spares.splice(0)) worker.kill('SIGKILL');
  }

  private refill(): void {
    while (!this.closed && this.spares.length < this.size) {
      const worker = this.spawn();
      this.spares.push(worker);
      worker.once('message', (message: FromWorker) => {
        if (message.type === 'ready') this.ready.add(worker);
      });
      // A spare that died (killed from outside) is forgotten, and replaced.
      worker.once('exit', () => {
        const at = this.spares.indexOf(worker);
        if (at === -1) return;
        this.spares.splice(at, 1);
        setTimeout(() => this.refill(), 1000).unref();
      });
    }
  }

  private spawn(): ChildProcess {
    const worker = spawn(process.execPath, [...WORKER_NODE_FLAGS, WORKER], {
      stdio: ['ignore', 'inherit', 'inherit', 'pipe', 'ipc'],
      serialization: 'json',
    });
    // A worker that cannot be started (no memory, no process slot) or whose pipe breaks must
    // not end capture: an 'error' event without a listener throws. It exits, and its camera's
    // IsolatedCamera starts another with backoff.
    worker.on('error', () => undefined);
    worker.stdio[FRAME_PIPE_FD]?.on('error', () => undefined);
    // Cameras yield the CPU to capture itself: on a saturated host (dozens of workers loading
    // OpenCV at once, or re-encoding) its lease renewals, publishing and /metrics still run on time.
    if (worker.pid !== undefined) {
      try {
        setPriority(worker.pid, WORKER_NICENESS);
      } catch {
        // Not allowed here: the workers share the CPU evenly with capture, as any process does.
      }
    }
    return worker;
  }
}
