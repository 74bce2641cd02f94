export { startCapture } from './capture.js';
export type { CaptureOptions, RunningCapture } from './capture.js';
export { captureVariables, readCaptureConfig, readInProcessCaptureConfig } from './config.js';
export type { CaptureConfig } from './config.js';
export { parseCameras } from './cameras.js';
export type { CameraSpec, SourceSpec } from './cameras.js';
export { loadOpenCV } from './opencv.js';
export { openPattern } from './sources/pattern.js';
