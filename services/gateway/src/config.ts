import { z } from 'zod';
import { integerIn, logLevel, optional, readConfig, redisUrl } from '@camrelay/config';
import type { Env } from '@camrelay/config';

/** The variables a gateway reads. REDIS_URL unset means embedded mode (capture in-process). */
export const gatewayVariables = {
  PORT: integerIn(1, 65535, 8080),
  REDIS_URL: optional(redisUrl),
  LOG_LEVEL: logLevel,
};

const gatewaySchema = z.object(gatewayVariables);

export type GatewayConfig = z.infer<typeof gatewaySchema>;

export function readGatewayConfig(env: Env): GatewayConfig {
  return readConfig(gatewaySchema, env);
}
