import { EventEmitter } from 'node:events';
import type { CameraInfo, EnvelopeListener, FrameBus } from './bus.js';
import { LATEST_FRAME_TTL_MS } from './bus.js';

/** The embedded default: capture and gateway in one process, frames handed over in memory. */
export class MemoryBus extends EventEmitter implements FrameBus {
  readonly isUp = true;
  private readonly envelopeListeners = new Map<string, EnvelopeListener>();
  private readonly latest = new Map<string, { envelope: Buffer; at: number }>();
  private cameras: CameraInfo[] = [];

  async publishFrame(cameraId: string, envelope: Buffer): Promise<void> {
    this.latest.set(cameraId, { envelope, at: Date.now() });
    this.envelopeListeners.get(cameraId)?.(envelope);
  }

  async latestFrame(cameraId: string): Promise<Buffer | null> {
    const entry = this.latest.get(cameraId);
    if (!entry || Date.now() - entry.at > LATEST_FRAME_TTL_MS) return null;
    return entry.envelope;
  }

  async subscribe(cameraId: string, listener: EnvelopeListener): Promise<void> {
    if (this.envelopeListeners.has(cameraId)) throw new Error(`already subscribed to camera ${cameraId}`);
    this.envelopeListeners.set(cameraId, listener);
  }

  async unsubscribe(cameraId: string): Promise<void> {
    this.envelopeListeners.delete(cameraId);
  }

  async announceCameras(cameras: readonly CameraInfo[]): Promise<void> {
    this.cameras = [...cameras];
  }

  async listCameras(): Promise<CameraInfo[]> {
    return this.cameras;
  }

  async close(): Promise<void> {
    this.envelopeListeners.clear();
  }
}
