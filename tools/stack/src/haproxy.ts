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
/** Connections past the viewers' maxconn, for the health check and the runtime API. */
export const SPARE_CONNECTIONS = 64;

/** Connections one client address may hold: a gateway's own default cap (100 streams + 64). */
export const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 164;

/**
 * The runtime API's address in the docker rendering: inside the container only (nothing publishes
 * it), over TCP so that `docker exec … bash` reaches it with /dev/tcp (the image has no socat).
 */
export const DOCKER_RUNTIME_API_PORT = 9999;
/** The internal frontend's port in the docker rendering: /lbz for the container's health check. */
export const DOCKER_INTERNAL_PORT = 8405;

/** The certificates' directory in the docker rendering: the `lb` container's mount. */
export const DOCKER_CERTIFICATES = '/certs';
/** The HTTPS port inside the lb container (compose publishes it as HTTPS_PORT). */
export const DOCKER_HTTPS_PORT = 8443;

/** What the plain HTTP port does: redirect to HTTPS, or serve (behind a front that terminates TLS). */
export type PlainHttp = 'redirect' | 'serve';

export interface LocalHaproxy {
  kind: 'local';
  /** The plain HTTP port. */
  listen: number;
  /** HTTPS (HTTP/2 and HTTP/1.1): its port and the directory of its certificates. */
  tls: { listen: number; certificates: string };
  /** @default 'redirect' */
  plainHttp?: PlainHttp;
  /** Strict-Transport-Security's max-age, in seconds, on HTTPS answers. @default none */
  hstsMaxAge?: number;
  gatewayPorts: readonly number[];
  maxViewers?: number;
  maxConnectionsPerAddress?: number;
  /** New connections a second one address may open, averaged over 10 s. @default maxConnectionsPerAddress */
  maxConnectionRatePerAddress?: number;
  /** Every connection begins with a PROXY protocol header, whose address is the client's. */
  acceptProxy?: boolean;
  /** A unix socket for the runtime API (mode 600). @default none */
  runtimeSocket?: string;
  /** A port on 127.0.0.1 answering /lbz, never behind the PROXY protocol. @default none */
  internalPort?: number;
}

export type HaproxyTarget =
  /** Local processes: gateways on fixed loopback ports. */
  | LocalHaproxy
  /** docker compose: every address Docker's DNS gives for the gateway service, re-resolved each second. */
  | { kind: 'docker'; listen: number; service: string; servicePort: number; maxViewers?: number };

export function renderHaproxyConf(target: HaproxyTarget): string {
  if (target.kind === 'local' && target.gatewayPorts.length === 0) throw new Error('the local stack needs at least one gateway');
  const maxViewers = target.maxViewers ?? DEFAULT_MAX_VIEWERS;
  const local = target.kind === 'local' ? target : undefined;
  const runtimeApi = local ? local.runtimeSocket && `${local.runtimeSocket} mode 600` : `ipv4@127.0.0.1:${DOCKER_RUNTIME_API_PORT}`;
  const internalPort = local ? local.internalPort : DOCKER_INTERNAL_PORT;
  const perAddress = local
    ? String(local.maxConnectionsPerAddress ?? DEFAULT_MAX_CONNECTIONS_PER_ADDRESS)
    : `"\${LB_MAX_CONNECTIONS_PER_ADDRESS-${DEFAULT_MAX_CONNECTIONS_PER_ADDRESS}}"`;
  const rateRule = (limit: string) => `    tcp-request session reject if { sc0_conn_rate,div(10) gt ${limit} }`;
  const values: Record<string, string> = {
    GLOBAL: [
      // Room past the viewers' frontend for the health check and the runtime API, which must
      // answer even when the viewers have filled theirs.
      `    maxconn ${maxViewers + SPARE_CONNECTIONS}`,
      ...(runtimeApi
        ? [
            "    # The runtime API (`show stat`, `show table viewers`): each gateway's state and the counts",
            '    # per client address, for this host or container only.',
            `    stats socket ${runtimeApi} level operator`,
          ]
        : []),
    ].join('\n'),
    RESOLVERS: local ? '' : DOCKER_RESOLVERS,
    SERVERS:
      target.kind === 'local'
        ? target.gatewayPorts.map((port, i) => `    server gateway-${i + 1} 127.0.0.1:${port}`).join('\n')
        : `    server-template gateway- ${DOCKER_GATEWAY_SLOTS} ${target.service}:${target.servicePort} resolvers docker init-addr none`,
    // compose: HAProxy reads the variables itself, with the same defaults. A bind option cannot
    // come from a variable, so the choice is a conditional block (HAProxy ≥ 2.4), and anything
    // but true or false stops HAProxy with a message naming the variable.
    BIND: local
      ? binds(target.listen, local.tls.listen, local.tls.certificates, local.acceptProxy ? ' accept-proxy' : '').join('\n')
      : [
          '    .if streq("${LB_ACCEPT_PROXY-false}",true)',
          ...binds(target.listen, DOCKER_HTTPS_PORT, DOCKER_CERTIFICATES, ' accept-proxy'),
          '    .elif streq("${LB_ACCEPT_PROXY-false}",false)',
          ...binds(target.listen, DOCKER_HTTPS_PORT, DOCKER_CERTIFICATES, ''),
          '    .else',
          '    .alert "LB_ACCEPT_PROXY must be true or false, got: $LB_ACCEPT_PROXY"',
          '    .endif',
        ].join('\n'),
    // The redirect names the HTTPS port clients reach (compose publishes HTTPS_PORT) and keeps
    // the host they asked for, without its port.
    PLAIN_HTTP: local
      ? (local.plainHttp ?? 'redirect') === 'redirect'
        ? redirectToHttps(String(local.tls.listen))
        : SERVE_PLAIN_HTTP
      : [
          '    .if streq("${LB_PLAIN_HTTP-redirect}",redirect)',
          redirectToHttps('"${HTTPS_PORT-8443}"'),
          '    .elif streq("${LB_PLAIN_HTTP-redirect}",serve)',
          SERVE_PLAIN_HTTP,
          '    .else',
          '    .alert "LB_PLAIN_HTTP must be redirect or serve, got: $LB_PLAIN_HTTP"',
          '    .endif',
        ].join('\n'),
    HSTS: local
      ? local.hstsMaxAge === undefined
        ? ''
        : hsts(String(local.hstsMaxAge))
      : ['    .if strneq("${HSTS_MAX_AGE-}","")', hsts('"${HSTS_MAX_AGE}"'), '    .endif'].join('\n'),
    MAXCONN: String(maxViewers),
    PER_ADDRESS: perAddress,
    // Unset, the rate follows the cap: every connection an address may hold, opened again each
    // second (a NAT's viewers all reconnecting, and retrying) stays within it.
    RATE_LIMIT: local
      ? rateRule(String(local.maxConnectionRatePerAddress ?? local.maxConnectionsPerAddress ?? DEFAULT_MAX_CONNECTIONS_PER_ADDRESS))
      : [
          '    .if defined(LB_MAX_CONNECTION_RATE_PER_ADDRESS)',
          rateRule('"$LB_MAX_CONNECTION_RATE_PER_ADDRESS"'),
          '    .else',
          rateRule(perAddress),
          '    .endif',
        ].join('\n'),
    INTERNAL:
      internalPort === undefined
        ? ''
        : [
            '',
            "# The load balancer's health for this host or container only (the container's health check):",
            '# never published, never behind the PROXY protocol, under no limit per address.',
            'frontend internal',
            `    bind 127.0.0.1:${internalPort}`,
            '    monitor-uri /lbz',
            '    monitor fail if { nbsrv(gateways) lt 1 }',
            '',
          ].join('\n'),
  };
  return readFileSync(TEMPLATE, 'utf8').replace(/\{\{([A-Z_]+)\}\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`haproxy template: no value for {{${name}}}`);
    return value;
  });
}

/** The plain and the HTTPS bind lines of the viewers' frontend. */
const binds = (plainPort: number, httpsPort: number, certificates: string, proxy: string) => [
  `    bind :${plainPort}${proxy}`,
  `    bind :${httpsPort}${proxy} ssl crt ${certificates.replace(/\/?$/, '/')} alpn h2,http/1.1`,
];
// A quoted word's parts: the sample expressions single-quoted (their `$` is a regex's), the
// port as given (a number, or a variable in double quotes).
const redirectToHttps = (port: string) =>
  `    http-request redirect location 'https://%[req.hdr(host),regsub(:[0-9]+$,)]:'${port}'%[capture.req.uri]' code 301 if !{ ssl_fc }`;
const SERVE_PLAIN_HTTP = '    # (served)';
// After-response: on HAProxy's own answers too (a 503 when no gateway is ready).
const hsts = (maxAge: string) => `    http-after-response set-header Strict-Transport-Security max-age=${maxAge} if { ssl_fc }`;

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
