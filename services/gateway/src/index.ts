export { startGateway } from './gateway.js';
export type { GatewayOptions, RunningGateway } from './gateway.js';
export { gatewayVariables, readGatewayConfig } from './config.js';
export { GATEWAY_DEFAULTS } from './defaults.js';
export type { GatewayConfig } from './config.js';
export { runGatewayProcess } from './process.js';
export type { GatewayProcessOptions } from './process.js';
export { HttpError, toHttpError } from './errors.js';
export type { HttpErrorCode } from './errors.js';
