/**
 * Capture and a gateway in one process, frames handed over in memory: the one place that
 * composes the two services. Run, as the worker whose output is redacted, by `npm start`
 * (main.ts) and by `npm run gateway` without Redis settings (gateway.ts).
 */
import { pino } from 'pino';
import { MemoryBus } from '@camrelay/bus';
import { captureOptionsOf, readInProcessCaptureConfig, registerCaptureMetrics, startCapture } from '@camrelay/capture';
import { readConfigOrExit } from '@camrelay/config';
import { readGatewayConfig, runGatewayProcess } from '@camrelay/gateway';

// Embedded, the gateway reads no REDIS_URL or REDIS_CLUSTER_NODES: one in the environment
// switches on none of the distributed defaults (access control, the shutdown delay).
const config = readConfigOrExit('camrelay', () => readGatewayConfig(process.env, 'embedded'));
const captureConfig = readConfigOrExit('camrelay', () => readInProcessCaptureConfig(process.env));
const log = pino({ name: 'camrelay', level: config.LOG_LEVEL });
const bus = new MemoryBus();
const capture = await startCapture({ ...captureOptionsOf(captureConfig), bus, log });
// capture serves no port of its own here: its metrics are on the gateway's /metrics.
await runGatewayProcess({
  config,
  bus,
  log,
  stopAlso: () => capture.stop(),
  moreMetrics: (registry) => registerCaptureMetrics(registry, capture),
});
