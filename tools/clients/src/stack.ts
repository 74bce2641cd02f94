/** `npm run stack` as a test fixture: the topology it prints is what the tests act on. */
import { spawnProcess } from '@camrelay/stack';
import type { Running } from '@camrelay/stack';

export interface StackGateway {
  readonly name: string;
  readonly pid: number;
  readonly baseUrl: string;
}

export interface RunningStack extends Running {
  readonly url: string;
  readonly gateways: StackGateway[];
  /** The capture fleet: each process with its own /metrics (capture's HEALTH_PORT). */
  readonly captures: Array<{ readonly name: string; readonly pid: number; readonly metricsUrl: string }>;
}

/** `npm run stack -- --gateways G --captures C`, once it has printed its summary. */
export async function startStack(gateways: number, env: NodeJS.ProcessEnv, captures = 1): Promise<RunningStack> {
  const stack = spawnProcess(
    process.execPath,
    ['tools/stack/dist/main.js', '--gateways', String(gateways), '--captures', String(captures)],
    env,
  );
  await stack.waitFor(/Ctrl-C stops everything/, 90_000);
  const url = /camrelay stack: (http:\/\/\S+)/.exec(stack.output.join('\n'))?.[1];
  const found = stack.output.flatMap((line) => {
    const match = /^\s+(gateway-\d+)\s+pid (\d+)\s+(http:\/\/\S+)/.exec(line);
    return match ? [{ name: match[1]!, pid: Number(match[2]), baseUrl: match[3]! }] : [];
  });
  const fleet = stack.output.flatMap((line) => {
    const match = /^\s+(capture-\d+)\s+pid (\d+)\s+metrics (http:\/\/\S+)/.exec(line);
    return match ? [{ name: match[1]!, pid: Number(match[2]), metricsUrl: match[3]! }] : [];
  });
  if (!url || found.length !== gateways || fleet.length !== captures)
    throw new Error(`unexpected stack output:\n${stack.output.join('\n')}`);
  return { ...stack, url, gateways: found, captures: fleet };
}
