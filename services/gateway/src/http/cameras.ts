/** The camera directory as the routes read it: a failed read is bus_unavailable, a missing camera unknown_camera. */
import type { CameraInfo } from '@camrelay/bus';
import type { CameraDirectory } from '../shared-state/camera-directory.js';
import { HttpError, busUnavailable } from './errors.js';

/** A camera counts as online while its frames are this fresh. */
const ONLINE_WITHIN_MS = 3000;

export function isOnline(camera: CameraInfo, now: number): boolean {
  return camera.lastFrameAt !== null && now - camera.lastFrameAt < ONLINE_WITHIN_MS;
}

export async function listCameras(directory: CameraDirectory): Promise<CameraInfo[]> {
  try {
    return await directory.list();
  } catch {
    throw busUnavailable();
  }
}

export async function requireCamera(directory: CameraDirectory, cameraId: string, fresh = false): Promise<CameraInfo> {
  const camera = await directory.find(cameraId, fresh).catch(() => {
    throw busUnavailable();
  });
  if (!camera) throw new HttpError(404, 'unknown_camera', `no camera ${JSON.stringify(cameraId)}`);
  return camera;
}
