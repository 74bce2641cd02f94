/**
 * An HTTP viewer of an H.264 stream (stream.mp4) for tests and benchmarks: keeps the bytes as
 * they came, and cuts them into the init segment and fragments to record what it saw.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { Fmp4Splitter, readFragment, readInit } from '@camrelay/frame';
import type { InitInfo } from '@camrelay/frame';

export interface ReceivedFragment {
  readonly keyframe: boolean;
  /** Its decode time in seconds: the capture time of its frame, as capture sets it (Unix seconds). */
  readonly decodeTime: number;
  readonly bytes: number;
  /** Date.now() when its last byte arrived. */
  readonly receivedAt: number;
}

export class Mp4Viewer {
  readonly fragments: ReceivedFragment[] = [];
  /** The init segments received, in order: one, unless the stream had to start over. */
  readonly inits: Buffer[] = [];
  /** Every byte of the body, when kept (`keepBytes`). */
  private readonly chunks: Buffer[] = [];
  response: IncomingMessage | undefined;
  isClosed = false;
  readonly ended: Promise<void>;
  private readonly listeners = new Set<() => void>();
  private failure: Error | undefined;
  private readonly req;
  private init: InitInfo | null = null;

  constructor(url: string, options: { keepBytes?: boolean; headers?: Record<string, string>; ca?: string } = {}) {
    const keep = options.keepBytes ?? true;
    let markEnded!: () => void;
    this.ended = new Promise<void>((resolve) => (markEnded = resolve)).then(() => {
      this.isClosed = true;
    });
    const splitter = new Fmp4Splitter(
      (init) => {
        this.inits.push(init);
        this.init = readInit(init);
      },
      (fragment) => {
        const info = readFragment(fragment, this.init!);
        this.fragments.push({
          keyframe: info.keyframe,
          decodeTime: info.decodeTime / this.init!.timescale,
          bytes: fragment.length,
          receivedAt: Date.now(),
        });
      },
    );
    const request = url.startsWith('https:') ? httpsRequest : httpRequest;
    this.req = request(url, { headers: options.headers, ca: options.ca }, (res) => {
      this.response = res;
      if (res.statusCode !== 200) {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (text: string) => (body = (body + text).slice(0, 300)));
        res.on('end', () => this.fail(new Error(`HTTP ${res.statusCode}: ${body}`)));
        return;
      }
      res.on('data', (chunk: Buffer) => {
        if (keep) this.chunks.push(chunk);
        try {
          splitter.push(chunk);
        } catch (error) {
          this.fail(error as Error);
        }
        this.notify();
      });
      res.on('end', () => (markEnded(), this.notify()));
      res.on('close', () => (markEnded(), this.notify()));
    });
    this.req.on('error', (error) => (this.fail(error), markEnded()));
    this.req.end();
  }

  /** The body so far, as received. */
  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }

  /** Resolves once `count` fragments have arrived in total. */
  async waitForFragments(count: number, timeoutMs = 20_000): Promise<void> {
    await this.waitUntil(() => this.fragments.length >= count, `${count} fragments`, timeoutMs);
  }

  /** Resolves once a keyframe has arrived after the first `from` fragments. */
  async waitForKeyframe(from = 0, timeoutMs = 20_000): Promise<ReceivedFragment> {
    let found: ReceivedFragment | undefined;
    await this.waitUntil(() => (found = this.fragments.slice(from).find((f) => f.keyframe)) !== undefined, 'a keyframe', timeoutMs);
    return found!;
  }

  waitUntil(done: () => boolean, what: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const failure = this.failure;
        if (failure) return settle(() => reject(failure));
        if (done()) return settle(resolve);
      };
      const timer = setTimeout(
        () => settle(() => reject(new Error(`no ${what} within ${timeoutMs} ms (${this.fragments.length} fragments)`))),
        timeoutMs,
      );
      const settle = (finish: () => void) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        finish();
      };
      this.listeners.add(check);
      check();
    });
  }

  /** Stops reading from the socket (a stalled client) or starts again. */
  pause(): void {
    this.response?.pause();
  }

  resume(): void {
    this.response?.resume();
  }

  close(): void {
    this.req.destroy();
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.notify();
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }
}
