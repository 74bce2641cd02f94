import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FramePipeReader, framePrefix } from './protocol.js';

const message = (feed: string, envelope: Buffer) => Buffer.concat([framePrefix(feed, envelope.length), envelope]);

describe('the frame pipe between a camera worker and capture', () => {
  const envelopes: Array<[string, Buffer]> = [
    ['lab', Buffer.from('first envelope')],
    ['lab@320x240', Buffer.alloc(70_000, 7)],
    ['lab', Buffer.from([1])],
  ];
  const stream = Buffer.concat(envelopes.map(([feed, envelope]) => message(feed, envelope)));

  const read = (chunks: readonly Buffer[]) => {
    const got: Array<[string, Buffer]> = [];
    const reader = new FramePipeReader((feed, envelope) => got.push([feed, Buffer.from(envelope)]));
    for (const chunk of chunks) reader.push(chunk);
    return got;
  };

  it('gives back each envelope and its feed, in order, however the bytes are cut', () => {
    assert.deepEqual(read([stream]), envelopes);
    for (let cut = 0; cut <= stream.length; cut += 97) {
      assert.deepEqual(read([stream.subarray(0, cut), stream.subarray(cut)]), envelopes, `cut at ${cut}`);
    }
    const bytes = Array.from({ length: stream.length }, (_, i) => stream.subarray(i, i + 1));
    assert.deepEqual(read(bytes), envelopes, 'one byte at a time');
  });

  it('holds an unfinished envelope until its last byte', () => {
    assert.deepEqual(read([stream.subarray(0, stream.length - 1)]), envelopes.slice(0, 2));
  });
});
