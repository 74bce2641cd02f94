/**
 * A page on a slow link, over HTTP/2: its tiles' streams share one TLS connection, which goes
 * through a link in this process that passes at most `bytesPerSecond` toward the page (and
 * holds at most 64 KB in itself), as a phone on a thin link does.
 */
import { connect } from 'node:http2';
import { createServer, connect as connectTcp } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { MultipartParser, boundaryOf } from '@camrelay/multipart';

export interface SlowTile {
  readonly path: string;
  /** Each part received: its X-Sequence and X-Timestamp (seconds), and when it came (Date.now()). */
  readonly parts: Array<{ sequence: number; timestamp: number; receivedAt: number }>;
  /** The status of its stream now (undefined until it answers). */
  status?: number;
  /** Answers other than 200 (`status: body`), each tried again a second later, as the viewer page does. */
  readonly refused: string[];
  /** A stream whose bytes were not the multipart it announced. */
  malformed?: string;
}

export interface SlowPage {
  readonly tiles: SlowTile[];
  close(): void;
}

const TICK_MS = 20;
const HELD_BYTES = 64 * 1024;

/** A TCP link to `port` on 127.0.0.1 that passes at most `bytesPerSecond` back to its clients. */
async function slowLink(port: number, bytesPerSecond: number): Promise<{ port: number; close(): void }> {
  const sockets = new Set<Socket>();
  const server = createServer((near) => {
    const far = connectTcp(port, '127.0.0.1');
    sockets.add(near).add(far);
    near.pipe(far); // toward the server: as fast as it comes
    const queue: Buffer[] = [];
    let held = 0;
    far.on('data', (chunk: Buffer) => {
      queue.push(chunk);
      held += chunk.length;
      if (held > HELD_BYTES) far.pause();
    });
    const tick = setInterval(() => {
      let budget = (bytesPerSecond * TICK_MS) / 1000;
      while (budget > 0 && queue.length > 0) {
        const chunk = queue[0]!;
        const take = Math.min(budget, chunk.length);
        near.write(chunk.subarray(0, take));
        if (take === chunk.length) queue.shift();
        else queue[0] = chunk.subarray(take);
        held -= take;
        budget -= take;
      }
      if (held < HELD_BYTES / 4) far.resume();
    }, TICK_MS);
    const end = () => (clearInterval(tick), near.destroy(), far.destroy());
    near.on('close', end).on('error', end);
    far.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close() {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

/** A page of tiles, one stream each for `paths`, over one HTTP/2 connection to `port` through a slow link. */
export async function openSlowPage(
  port: number,
  paths: readonly string[],
  { ca, bytesPerSecond }: { ca: string; bytesPerSecond: number },
): Promise<SlowPage> {
  const link = await slowLink(port, bytesPerSecond);
  const session = connect(`https://127.0.0.1:${link.port}`, { ca });
  session.on('error', () => undefined); // closed below, or the server went away
  let closed = false;
  const open = (tile: SlowTile) => {
    const stream = session.request({ ':path': tile.path });
    let parser: MultipartParser | undefined;
    let body = '';
    stream.on('response', (headers) => {
      tile.status = Number(headers[':status']);
      if (tile.status === 200) parser = new MultipartParser(boundaryOf(String(headers['content-type'])));
    });
    stream.on('data', (chunk: Buffer) => {
      if (!parser) {
        body = (body + chunk.toString('utf8')).slice(0, 200);
        return;
      }
      try {
        for (const part of parser.push(chunk))
          tile.parts.push({
            sequence: Number(part.headers['x-sequence']),
            timestamp: Number(part.headers['x-timestamp']),
            receivedAt: Date.now(),
          });
      } catch (error) {
        tile.malformed ??= (error as Error).message;
        stream.destroy();
      }
    });
    stream.on('end', () => {
      if (tile.status === 200 || closed) return;
      tile.refused.push(`${tile.status}: ${body}`);
      setTimeout(() => !closed && open(tile), 1000);
    });
    stream.on('error', () => undefined);
  };
  const tiles: SlowTile[] = paths.map((path) => ({ path, parts: [], refused: [] }));
  tiles.forEach(open);
  return {
    tiles,
    close() {
      closed = true;
      session.destroy();
      link.close();
    },
  };
}
