/** Renders deploy/nginx/nginx.conf.template: one template, two renderings (local stack, docker). */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const TEMPLATE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'deploy', 'nginx', 'nginx.conf.template');

export type NginxTarget =
  /** Local processes: gateways on fixed loopback ports, every path inside `prefix`. */
  | { kind: 'local'; listen: number; gatewayPorts: readonly number[]; prefix: string }
  /**
   * docker compose: the gateway service name, re-resolved through Docker's DNS so that
   * `--scale gateway=N` is seen (`resolve` needs nginx ≥ 1.27.3: the official image, not Debian 12's 1.22).
   */
  | { kind: 'docker'; listen: number; service: string; servicePort: number };

export function renderNginxConf(target: NginxTarget): string {
  const local = target.kind === 'local';
  const prefix = local ? withSlash(target.prefix) : '/var/cache/nginx/';
  const values: Record<string, string> = {
    PREFIX: prefix,
    LOGS: local ? prefix : '/var/log/nginx/',
    ACCESS_LOG: local ? 'off' : '/var/log/nginx/access.log',
    RESOLVER: local ? '' : 'resolver 127.0.0.11 valid=5s ipv6=off;',
    SERVERS: local
      ? target.gatewayPorts.map((port) => `        server 127.0.0.1:${port} max_fails=1 fail_timeout=5s;`).join('\n')
      : `        server ${target.service}:${target.servicePort} resolve;`,
    LISTEN: String(target.listen),
  };
  if (local && target.gatewayPorts.length === 0) throw new Error('the local stack needs at least one gateway');
  return readFileSync(TEMPLATE, 'utf8').replace(/\{\{([A-Z_]+)\}\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`nginx template: no value for {{${name}}}`);
    return value;
  });
}

/** The rendering committed as deploy/nginx/nginx.docker.conf (checked by a test). */
export function dockerNginxConf(): string {
  return renderNginxConf({ kind: 'docker', listen: 8080, service: 'gateway', servicePort: 8080 });
}

function withSlash(path: string): string {
  return path.endsWith('/') ? path : `${path}/`;
}
