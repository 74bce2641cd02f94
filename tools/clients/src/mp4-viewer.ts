/**
 * An HTTP viewer of an H.264 stream (stream.mp4) for tests and benchmarks: keeps the bytes as
 * they came, and cuts them into the init segment and fragments to record what it saw.
 */
import { Fmp4Splitter, readFragment, readInit } from '@camrelay/frame';
import type { InitInfo } from '@camrelay/frame';
import { StreamClient } from './stream-client.js';
import type { StreamClientOptions } from './stream-client.js';

export interface ReceivedFragment {
  readonly keyframe: boolean;
  /** Its decode time in seconds: the capture time of its frame, as capture sets it (Unix seconds). */
  readonly decodeTime: number;
  readonly bytes: number;
  /** Date.now() when its last byte arrived. */
  readonly receivedAt: number;
}

export class Mp4Viewer extends StreamClient {
  readonly fragments: ReceivedFragment[] = [];
  /** The init segments received, in order: one, unless the stream had to start over. */
  readonly inits: Buffer[] = [];
  /** Every byte of the body, when kept (`keepBytes`). */
  private readonly chunks: Buffer[] = [];
  private readonly keepBytes: boolean;
  private init: InitInfo | null = null;

  constructor(url: string, options: StreamClientOptions & { keepBytes?: boolean } = {}) {
    super(url, options);
    this.keepBytes = options.keepBytes ?? true;
  }

  protected bodyReader(): (chunk: Buffer) => void {
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
    return (chunk) => {
      if (this.keepBytes) this.chunks.push(chunk);
      splitter.push(chunk);
    };
  }

  protected progress(): string {
    return `${this.fragments.length} fragments`;
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
}
