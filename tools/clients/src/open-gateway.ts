/**
 * Gateway (and stack) settings for tests and benchmarks about something other than access
 * control and viewer limits: no tokens, and no per-address limit, in the gateways or in the
 * stack's load balancer (every client comes from 127.0.0.1).
 */
export const OPEN_GATEWAY = {
  AUTH: 'off',
  MAX_VIEWERS_PER_ADDRESS: '100000',
  MAX_VIEWERS: '100000',
  LB_MAX_CONNECTIONS_PER_ADDRESS: '100000',
} as const;
