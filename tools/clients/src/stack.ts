/** `npm run stack` as a test fixture: the topology it prints is what the tests act on. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SELF_SIGNED_FILE } from '@camrelay/tls';
import { freePort, spawnProcess } from '@camrelay/stack';
import type { Running } from '@camrelay/stack';

export interface StackGateway {
  readonly name: string;
  readonly pid: number;
  readonly baseUrl: string;
}

export interface RunningStack extends Running {
  /** The load balancer's plain HTTP port: served (LB_PLAIN_HTTP=serve) unless the env asked otherwise. */
  readonly url: string;
  /** Its HTTPS port (HTTP/2 and HTTP/1.1). */
  readonly httpsUrl: string;
  /** The certificate it serves (self-signed, made for this run): the one to trust. */
  readonly certificate: string;
  readonly gateways: StackGateway[];
  /** The capture fleet: each process with its own /metrics (capture's HEALTH_PORT). */
  readonly captures: Array<{ readonly name: string; readonly pid: number; readonly metricsUrl: string }>;
}

/**
 * `npm run stack -- --gateways G --captures C`, once it has printed its summary. Unless `env`
 * says otherwise: HTTPS on a free port with a certificate made for this run, and plain HTTP
 * served (as behind a front that terminates TLS), which is what most tests and benchmarks read.
 */
export async function startStack(gateways: number, env: NodeJS.ProcessEnv, captures = 1): Promise<RunningStack> {
  const certificates = mkdtempSync(join(tmpdir(), 'camrelay-stack-certs-'));
  const stack = spawnProcess(
    process.execPath,
    ['tools/stack/dist/main.js', '--gateways', String(gateways), '--captures', String(captures)],
    { LB_PLAIN_HTTP: 'serve', HTTPS_PORT: String(await freePort()), TLS_CERTS_DIR: certificates, ...env },
  );
  void stack.exited.then(() => rmSync(certificates, { recursive: true, force: true }));
  await stack.waitFor(/Ctrl-C stops everything/, 90_000);
  const output = stack.output.join('\n');
  const httpsUrl = /camrelay stack: (https:\/\/\S+)/.exec(output)?.[1];
  const url = /plain HTTP (http:\/\/\S+)/.exec(output)?.[1];
  const certificate = readFileSync(join(env.TLS_CERTS_DIR ?? certificates, SELF_SIGNED_FILE), 'utf8');
  const found = stack.output.flatMap((line) => {
    const match = /^\s+(gateway-\d+)\s+pid (\d+)\s+(http:\/\/\S+)/.exec(line);
    return match ? [{ name: match[1]!, pid: Number(match[2]), baseUrl: match[3]! }] : [];
  });
  const fleet = stack.output.flatMap((line) => {
    const match = /^\s+(capture-\d+)\s+pid (\d+)\s+metrics (http:\/\/\S+)/.exec(line);
    return match ? [{ name: match[1]!, pid: Number(match[2]), metricsUrl: match[3]! }] : [];
  });
  if (!url || !httpsUrl || found.length !== gateways || fleet.length !== captures)
    throw new Error(`unexpected stack output:\n${stack.output.join('\n')}`);
  return { ...stack, url, httpsUrl, certificate, gateways: found, captures: fleet };
}
