/**
 * Capture and a gateway in one process, frames handed over in memory: run by main.ts as the
 * worker whose output is redacted.
 */
import { pino } from 'pino';
import { MemoryBus } from '@camrelay/bus';
import { captureOptionsOf, readInProcessCaptureConfig, startCapture } from '@camrelay/capture';
import { readConfigOrExit } from '@camrelay/config';
import { readGatewayConfig, runGatewayProcess } from '@camrelay/gateway';

// The bus is in memory: a REDIS_URL or REDIS_CLUSTER_NODES in the environment is not used,
// and must not switch on the distributed defaults (access control, the shutdown delay).
const config = readConfigOrExit('camrelay', () =>
  readGatewayConfig({ ...process.env, REDIS_URL: undefined, REDIS_CLUSTER_NODES: undefined }),
);
const captureConfig = readConfigOrExit('camrelay', () => readInProcessCaptureConfig(process.env));
const log = pino({ name: 'camrelay', level: config.LOG_LEVEL });
const bus = new MemoryBus();
const capture = await startCapture({ ...captureOptionsOf(captureConfig), bus, log });
await runGatewayProcess({ config, bus, log, embedded: true, stopAlso: () => capture.stop() });
