/**
 * A frame's sequence number carries the fencing epoch under which its capture instance held
 * the camera (high bits) and the frame's number under that epoch (low 32 bits): numbers from a
 * newer holder are always larger, so a viewer's X-Sequence rises across every hand-over and
 * failover, and a gateway can tell a stale holder's frame by its number alone.
 *
 * 2^21 epochs (a camera can change hands two million times) times 2^32 frames per epoch (four
 * years at 30 fps) fit in a safe integer.
 */
export const FRAMES_PER_EPOCH = 2 ** 32;
export const MAX_EPOCH = 2 ** 21 - 1;

export function sequenceOf(epoch: number, frame: number): number {
  return epoch * FRAMES_PER_EPOCH + (frame % FRAMES_PER_EPOCH);
}

export function epochOf(sequence: number): number {
  return Math.floor(sequence / FRAMES_PER_EPOCH);
}
