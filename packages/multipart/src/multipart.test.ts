import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MultipartError, MultipartParser, boundaryOf } from './parser.js';
import { STREAM_BOUNDARY, encodePart, streamContentType, streamPreamble } from './writer.js';

function jpegOf(size: number, seed: number): Buffer {
  const body = Buffer.alloc(size);
  for (let i = 0; i < size; i++) body[i] = (i * 31 + seed) & 0xff;
  body[0] = 0xff;
  body[1] = 0xd8;
  body[size - 2] = 0xff;
  body[size - 1] = 0xd9;
  return body;
}

const frames = [jpegOf(40, 1), jpegOf(7, 2), jpegOf(300, 3)];
const stream = Buffer.concat([
  streamPreamble(),
  ...frames.map((jpeg, i) => encodePart(jpeg, { capturedAt: 1764086400000 + i * 33.3, sequence: 100 + i })),
]);

function parseAll(chunks: Buffer[]) {
  const parser = new MultipartParser(boundaryOf(streamContentType()));
  return chunks.flatMap((chunk) => parser.push(chunk));
}

describe('multipart writer and parser', () => {
  it('round-trips parts with their headers', () => {
    const parts = parseAll([stream]);
    assert.equal(parts.length, 3);
    parts.forEach((part, i) => {
      assert.deepEqual(part.body, frames[i]);
      assert.equal(part.headers['content-type'], 'image/jpeg');
      assert.equal(part.headers['content-length'], String(frames[i]!.length));
      assert.equal(part.headers['x-sequence'], String(100 + i));
      assert.equal(part.headers['x-timestamp'], ((1764086400000 + i * 33.3) / 1000).toFixed(6));
    });
  });

  it('ends every part with the next delimiter, so browsers draw it at once', () => {
    const part = encodePart(frames[0]!, { capturedAt: 0, sequence: 0 });
    assert.ok(part.subarray(part.length - STREAM_BOUNDARY.length - 6).equals(Buffer.from(`\r\n--${STREAM_BOUNDARY}\r\n`)));
  });

  it('gives the same parts when the stream is split at every byte offset', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const parts = parseAll([stream.subarray(0, cut), stream.subarray(cut)]);
      assert.equal(parts.length, 3, `split at ${cut}`);
      parts.forEach((part, i) => assert.deepEqual(part.body, frames[i], `split at ${cut}, part ${i}`));
    }
  });

  it('gives the same parts when fed one byte at a time', () => {
    const chunks = [...stream].map((byte) => Buffer.from([byte]));
    assert.deepEqual(parseAll(chunks).map((p) => p.body), frames);
  });

  it('reads parts without Content-Length, as the classic Flask server writes them', () => {
    const classic = Buffer.concat(
      frames.flatMap((jpeg) => [Buffer.from('--frame\r\nContent-Type: image/jpeg\r\n\r\n'), jpeg, Buffer.from('\r\n')]),
    );
    for (let cut = 0; cut <= classic.length; cut += 7) {
      const parser = new MultipartParser('frame');
      const parts = [...parser.push(classic.subarray(0, cut)), ...parser.push(classic.subarray(cut))];
      // The last part is complete only when the next delimiter arrives.
      assert.deepEqual(parts.map((p) => p.body), frames.slice(0, 2), `split at ${cut}`);
    }
  });

  it('sees the closing delimiter and ignores what follows it', () => {
    const parser = new MultipartParser('b');
    parser.push(Buffer.from('--b\r\nContent-Length: 2\r\n\r\nhi\r\n--b--\r\n'));
    assert.ok(parser.ended);
    assert.deepEqual(parser.push(Buffer.from('epilogue')), []);
  });

  it('accepts whitespace between a delimiter and its CRLF', () => {
    const parts = new MultipartParser('b').push(Buffer.from('--b \t\r\nContent-Length: 2\r\n\r\nhi\r\n--b\r\n'));
    assert.deepEqual(parts.map((p) => p.body.toString()), ['hi']);
  });

  it('rejects malformed streams with MultipartError', () => {
    const cases: Array<[string, string]> = [
      ['no delimiter', 'garbage that is long enough to not be a prefix of a delimiter'],
      ['wrong boundary', '--other\r\n'],
      ['delimiter without CRLF', '--b  x'],
      ['bad header line', '--b\r\nno colon here\r\n\r\n'],
      ['bad Content-Length', '--b\r\nContent-Length: -5\r\n\r\n'],
      ['body longer than Content-Length', '--b\r\nContent-Length: 2\r\n\r\nhello'],
      ['huge Content-Length', '--b\r\nContent-Length: 99999999999\r\n\r\n'],
      ['oversized headers', `--b\r\nX-Big: ${'x'.repeat(9000)}`],
    ];
    for (const [name, input] of cases) {
      assert.throws(() => new MultipartParser('b').push(Buffer.from(input)), MultipartError, name);
    }
  });

  it('reads the boundary from a Content-Type header', () => {
    assert.equal(boundaryOf('multipart/x-mixed-replace; boundary=frame'), 'frame');
    assert.equal(boundaryOf('multipart/x-mixed-replace;boundary="a b"'), 'a b');
    assert.throws(() => boundaryOf('image/jpeg'), MultipartError);
  });
});
