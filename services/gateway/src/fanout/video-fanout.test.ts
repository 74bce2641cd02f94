import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { sequenceOf } from '@camrelay/frame';
import type { Segment } from '@camrelay/frame';
import { VideoFanout } from './video-fanout.js';

const INIT = Buffer.from('[init]');
/** A fragment whose bytes name it: what a viewer received shows which fragments it got, in order. */
const segment = (epoch: number, frame: number, index: number, init: Buffer = INIT): Segment => ({
  sequence: sequenceOf(epoch, frame),
  capturedAt: Date.now(),
  width: 16,
  height: 16,
  keyframe: index === 0,
  index,
  init: index === 0 ? init : null,
  fragment: Buffer.from(`[${epoch}.${frame}]`),
});

/** A viewer on a real loopback connection: the gateway's side goes to the fanout, the client's is read. */
interface Client {
  /** Resolves once the client has received exactly `expected`; rejects with what it got if more or other came, or nothing more for 5 s. */
  readonly receives: (expected: string) => Promise<void>;
  /** Resolves when the stream ends (the gateway's side closed it), or rejects after 5 s. */
  readonly ended: () => Promise<unknown>;
}

describe('an H.264 fanout', () => {
  let server: Server;
  let accepted: Socket[] = [];
  const clients: Socket[] = [];

  before(async () => {
    server = createServer((socket) => accepted.push(socket));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
  });

  after(() => {
    for (const socket of [...clients, ...accepted]) socket.destroy();
    server.close();
  });

  const join = async (fanout: VideoFanout): Promise<Client> => {
    accepted = [];
    const client = connect((server.address() as { port: number }).port, '127.0.0.1');
    clients.push(client);
    let text = '';
    client.on('data', (chunk: Buffer) => (text += chunk.toString()));
    await once(client, 'connect');
    while (accepted.length === 0) await new Promise((resolve) => setImmediate(resolve));
    fanout.add(accepted[0]!, () => undefined);
    const receives = (expected: string) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (text === expected) done(resolve);
          else if (!expected.startsWith(text)) done(() => reject(new Error(`received ${text}, expected ${expected}`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`received ${text} in 5 s, expected ${expected}`))), 5000);
        const done = (finish: () => void) => {
          clearTimeout(timer);
          client.off('data', check);
          finish();
        };
        client.on('data', check);
        check();
      });
    return { receives, ended: () => once(client, 'end', { signal: AbortSignal.timeout(5000) }) };
  };

  it('starts a viewer who joins at the group of pictures under way, and one who joins on a broken group at the next keyframe', async () => {
    const fanout = new VideoFanout(30_000);
    const early = await join(fanout);
    fanout.publish(segment(1, 0, 0));
    fanout.publish(segment(1, 1, 1));
    const late = await join(fanout);
    fanout.publish(segment(1, 2, 2));
    // Frame 3 never came (lost on the bus): 4 cannot be decoded, and is passed on to nobody.
    fanout.publish(segment(1, 4, 4));
    const broken = await join(fanout);
    fanout.publish(segment(1, 5, 0));
    fanout.publish(segment(1, 6, 1));
    await early.receives('[init][1.0][1.1][1.2][1.5][1.6]');
    await late.receives('[init][1.0][1.1][1.2][1.5][1.6]');
    await broken.receives('[init][1.5][1.6]');
    assert.equal(fanout.gaps, 1);
  });

  it("takes a new capture instance's stream at its keyframe only, and ends the streams a new init segment cannot continue", async () => {
    const fanout = new VideoFanout(30_000);
    const viewer = await join(fanout);
    fanout.publish(segment(1, 0, 0));
    fanout.publish(segment(1, 1, 1));
    // A hand-over: the new holder's encoder was mid-group when its frames started to count.
    fanout.publish(segment(2, 7, 3));
    fanout.publish(segment(2, 8, 0));
    fanout.publish(segment(1, 2, 2)); // the old holder, fenced
    fanout.publish(segment(1, 10, 0)); // even at a keyframe of its own
    await viewer.receives('[init][1.0][1.1][2.8]');
    // The camera's size changed: another init segment. The stream ends; a new one starts with it.
    fanout.publish(segment(2, 9, 0, Buffer.from('[other]')));
    await viewer.ended();
    const again = await join(fanout);
    await again.receives('[other][2.9]');
    assert.equal(fanout.viewerCount, 1);
  });
});
