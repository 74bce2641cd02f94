/**
 * Clients of a running camrelay, shared by the tests and the benchmarks: a stream viewer, the
 * viewer churn, /metrics scraping, the post-GC memory probe, `npm run stack` as a fixture,
 * MJPEG files of known frames to feed capture, and local network cameras (healthy, hung,
 * resetting, trickling) to point it at.
 */
export { writeMjpegAvi } from './avi.js';
export type { AviOptions } from './avi.js';
export { DEFAULT_MIX, runChurn } from './churn.js';
export type { ChurnOptions, ChurnResult, GatewaySample, VisitKind } from './churn.js';
export { gcProbeEnv, probeMemory, retained } from './memory-probe.js';
export type { MemoryProbe } from './memory-probe.js';
export { fetchMetrics, metricValue, scrapeGateway, scrapeMetrics } from './metrics.js';
export type { GatewayMetrics } from './metrics.js';
export { MJPEG_SOURCES_DEFAULTS, SOURCE_KINDS, spawnMjpegSources, startMjpegSources } from './mjpeg-sources.js';
export type { MjpegSources, MjpegSourcesOptions, SourceKind } from './mjpeg-sources.js';
export { OPEN_GATEWAY } from './open-gateway.js';
export { startStack } from './stack.js';
export type { RunningStack, StackGateway } from './stack.js';
export { Mp4Viewer } from './mp4-viewer.js';
export type { ReceivedFragment } from './mp4-viewer.js';
export { StreamViewer } from './viewer.js';
export type { ReceivedFrame } from './viewer.js';
