/**
 * Camera credentials out of what native code prints.
 *
 * OpenCV and FFmpeg write to file descriptors 1 and 2 themselves, past JavaScript: FFmpeg's
 * HLS reader, at its default level, prints a failed segment's URL, and a relative segment
 * takes the camera's user info from the playlist's URL; OpenCV's and FFmpeg's debug levels
 * (OPENCV_VIDEOIO_DEBUG, OPENCV_FFMPEG_LOGLEVEL, which operators turn on to find out why a
 * camera does not open) print every URL they open. Node cannot point its own descriptor 2
 * elsewhere (no dup2 without a native addon), so a process that opens cameras runs as a
 * worker below a small parent that reads the worker's stdout and stderr through pipes and
 * writes them on with hideCredentials applied to each line, the rule of every log line of
 * ours. The parent loads neither OpenCV nor the service.
 */
import { spawn } from 'node:child_process';
import { Socket } from 'node:net';
import { constants } from 'node:os';
import type { Readable } from 'node:stream';
import { hideCredentials } from '@camrelay/config';

/** Set in the worker's environment (and removed there at once): this process is the worker. */
const WORKER = 'CAMRELAY_OUTPUT_WORKER';
/** The worker's descriptor of a pipe the parent holds open: its end says the parent is gone. */
const LIFELINE_FD = 3;
/** Signals that stop a service (docker stop, Ctrl-C, a closed terminal): the worker decides how. */
const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
/** A line longer than this is written on in pieces rather than held without end. */
const MAX_LINE = 64 * 1024;

/**
 * Runs `start` (which imports the service) in a worker process whose output is redacted, and
 * makes this process that worker's parent: same script, arguments, Node flags and
 * environment; its stop signals passed on; its exit code, or the signal that ended it, ours.
 * In the worker, runs `start`.
 *
 * `env` is this process's environment, passed down by the entry point. It must be the
 * environment object itself, not a copy: in the worker the flag is removed from it, so that no
 * process the worker starts (camera workers, anything else) inherits it and takes itself for
 * the worker.
 */
export async function runWithRedactedOutput(env: NodeJS.ProcessEnv, start: () => Promise<unknown>): Promise<void> {
  if (env[WORKER] === '1') {
    delete env[WORKER];
    holdLifeline();
    await start();
    return;
  }
  superviseWorker(env);
}

function superviseWorker(env: NodeJS.ProcessEnv): void {
  const worker = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    env: { ...env, [WORKER]: '1' },
    stdio: ['inherit', 'pipe', 'pipe', 'pipe'],
  });
  worker.on('error', (error) => {
    process.stderr.write(`${hideCredentials(`cannot start ${process.argv[1] ?? 'the service'}: ${error.message}`)}\n`);
    process.exit(1);
  });
  redactLines(worker.stdout!, process.stdout);
  redactLines(worker.stderr!, process.stderr);
  const forward = (signal: NodeJS.Signals) => worker.kill(signal);
  for (const signal of FORWARDED) process.on(signal, forward);
  // Read to its end, so that the worker's exit closes it here too.
  (worker.stdio[LIFELINE_FD] as Readable).resume();
  worker.once('close', (code, signal) => {
    if (signal === null) process.exit(code ?? 1);
    // Die of the same signal (a shell shows 137 for a SIGKILLed worker, as it did without the
    // parent): ours no longer handled, its default action ends this process.
    for (const forwarded of FORWARDED) process.off(forwarded, forward);
    process.kill(process.pid, signal);
    setTimeout(() => process.exit(128 + (constants.signals[signal] ?? 0)), 1000);
  });
}

/** `input`, a line at a time, through hideCredentials to `output`; a partial line waits for its end. */
function redactLines(input: Readable, output: NodeJS.WritableStream): void {
  let pending = '';
  input.setEncoding('utf8');
  input.on('data', (chunk: string) => {
    const text = pending + chunk;
    const end = text.lastIndexOf('\n') + 1;
    const cut = end > 0 ? end : text.length >= MAX_LINE ? text.length : 0;
    pending = text.slice(cut);
    if (cut > 0) output.write(redact(text.slice(0, cut)));
  });
  input.on('end', () => {
    if (pending) output.write(redact(pending));
  });
}

/** Line by line: hideCredentials reads text that starts with a URL as one URL, to its last "@". */
function redact(text: string): string {
  return text.split('\n').map(hideCredentials).join('\n');
}

/** If the parent dies without passing on a signal (SIGKILL), the worker must not outlive it. */
function holdLifeline(): void {
  let lifeline: Socket;
  try {
    lifeline = new Socket({ fd: LIFELINE_FD, readable: true, writable: false });
  } catch (error) {
    throw new Error(`${WORKER} is set, but descriptor ${LIFELINE_FD} is not the parent's pipe; it is meant for the worker only`, {
      cause: error,
    });
  }
  lifeline.on('error', () => undefined);
  lifeline.once('close', () => process.kill(process.pid, 'SIGKILL'));
  lifeline.resume();
  lifeline.unref();
}
