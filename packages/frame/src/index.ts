export { DEFAULT_MAX_FRAME_BYTES, ENVELOPE_HEADER_BYTES, EnvelopeError, decodeEnvelope, encodeEnvelope, isJpeg } from './envelope.js';
export type { EnvelopeErrorCode } from './envelope.js';
export type { Frame } from './envelope.js';
export { CAMERA_ID_PATTERN, FRAME_SIZE_PATTERN, feedId, isCameraId, parseFeedId } from './names.js';
export { FRAMES_PER_EPOCH, MAX_EPOCH, epochOf, sequenceOf } from './epoch.js';
