/** Renders deploy/haproxy/haproxy.cfg.template: one template, two renderings (local stack, docker compose). */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const TEMPLATE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'deploy', 'haproxy', 'haproxy.cfg.template');

/**
 * Server slots for docker compose: HAProxy fills them from Docker's DNS as gateways are scaled,
 * so this is the most gateways one load balancer spreads viewers over.
 */
export const DOCKER_GATEWAY_SLOTS = 32;

/**
 * Viewers (client connections) one load balancer accepts. Each costs two open files and a
 * quarter of them a pipe besides (two more): 7000 fit in 20000 open files.
 */
export const DEFAULT_MAX_VIEWERS = 7000;
export const OPEN_FILES_PER_VIEWER = 2.5;

/** Connections one client address may hold: a gateway's own default cap (100 streams + 64). */
export const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 164;

export type HaproxyTarget =
  /** Local processes: gateways on fixed loopback ports. */
  | { kind: 'local'; listen: number; gatewayPorts: readonly number[]; maxViewers?: number; maxConnectionsPerAddress?: number }
  /** docker compose: every address Docker's DNS gives for the gateway service, re-resolved each second. */
  | { kind: 'docker'; listen: number; service: string; servicePort: number; maxViewers?: number };

export function renderHaproxyConf(target: HaproxyTarget): string {
  if (target.kind === 'local' && target.gatewayPorts.length === 0) throw new Error('the local stack needs at least one gateway');
  const maxViewers = target.maxViewers ?? DEFAULT_MAX_VIEWERS;
  const values: Record<string, string> = {
    GLOBAL: `    maxconn ${maxViewers}`,
    RESOLVERS: target.kind === 'local' ? '' : DOCKER_RESOLVERS,
    SERVERS:
      target.kind === 'local'
        ? target.gatewayPorts.map((port, i) => `    server gateway-${i + 1} 127.0.0.1:${port}`).join('\n')
        : `    server-template gateway- ${DOCKER_GATEWAY_SLOTS} ${target.service}:${target.servicePort} resolvers docker init-addr none`,
    LISTEN: String(target.listen),
    MAXCONN: String(maxViewers),
    // compose: HAProxy reads the variable itself, with the same default.
    PER_ADDRESS:
      target.kind === 'local'
        ? String(target.maxConnectionsPerAddress ?? DEFAULT_MAX_CONNECTIONS_PER_ADDRESS)
        : `"\${LB_MAX_CONNECTIONS_PER_ADDRESS-${DEFAULT_MAX_CONNECTIONS_PER_ADDRESS}}"`,
  };
  return readFileSync(TEMPLATE, 'utf8').replace(/\{\{([A-Z_]+)\}\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`haproxy template: no value for {{${name}}}`);
    return value;
  });
}

// Docker's embedded DNS answers for every replica of a service; re-asked every second, so
// `--scale gateway=N` is seen within seconds, without a reload.
const DOCKER_RESOLVERS = `resolvers docker
    nameserver dns 127.0.0.11:53
    accepted_payload_size 8192
    resolve_retries 3
    timeout resolve 1s
    timeout retry 1s
    hold valid 1s
    hold obsolete 2s
`;

/** The rendering committed as deploy/haproxy/haproxy.docker.cfg (checked by a test). */
export function dockerHaproxyConf(): string {
  return renderHaproxyConf({ kind: 'docker', listen: 8080, service: 'gateway', servicePort: 8080 });
}
