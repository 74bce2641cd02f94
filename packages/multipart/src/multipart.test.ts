import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MultipartError, MultipartParser, boundaryOf } from './parser.js';
import type { MultipartErrorCode } from './parser.js';
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
    assert.deepEqual(
      parseAll(chunks).map((p) => p.body),
      frames,
    );
  });

  it('reads parts without Content-Length, as the classic Flask server writes them', () => {
    const classic = Buffer.concat(
      frames.flatMap((jpeg) => [Buffer.from('--frame\r\nContent-Type: image/jpeg\r\n\r\n'), jpeg, Buffer.from('\r\n')]),
    );
    for (let cut = 0; cut <= classic.length; cut += 7) {
      const parser = new MultipartParser('frame');
      const parts = [...parser.push(classic.subarray(0, cut)), ...parser.push(classic.subarray(cut))];
      // The last part is complete only when the next delimiter arrives.
      assert.deepEqual(
        parts.map((p) => p.body),
        frames.slice(0, 2),
        `split at ${cut}`,
      );
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
    assert.deepEqual(
      parts.map((p) => p.body.toString()),
      ['hi'],
    );
  });

  it('rejects malformed streams with MultipartError', () => {
    const cases: Array<[string, string, MultipartErrorCode]> = [
      ['no delimiter', 'garbage that is long enough to not be a prefix of a delimiter', 'malformed'],
      ['wrong boundary', '--other\r\n', 'malformed'],
      ['delimiter without CRLF', '--b  x', 'malformed'],
      ['bad header line', '--b\r\nno colon here\r\n\r\n', 'malformed'],
      ['bad Content-Length', '--b\r\nContent-Length: -5\r\n\r\n', 'malformed'],
      ['body longer than Content-Length', '--b\r\nContent-Length: 2\r\n\r\nhello', 'malformed'],
      ['huge Content-Length', '--b\r\nContent-Length: 99999999999\r\n\r\n', 'malformed'],
      ['Content-Length over the part limit', '--b\r\nContent-Length: 999999999\r\n\r\n', 'too_large'],
      ['oversized headers', `--b\r\nX-Big: ${'x'.repeat(9000)}`, 'too_large'],
    ];
    for (const [name, input, code] of cases) {
      assert.throws(
        () => new MultipartParser('b').push(Buffer.from(input)),
        (error) => error instanceof MultipartError && error.code === code,
        name,
      );
    }
  });

  it('reads the boundary from a Content-Type header', () => {
    assert.equal(boundaryOf('multipart/x-mixed-replace; boundary=frame'), 'frame');
    assert.equal(boundaryOf('multipart/x-mixed-replace;boundary="a b"'), 'a b');
    assert.throws(() => boundaryOf('image/jpeg'), { name: 'MultipartError', code: 'bad_boundary' });
  });
});

describe('strict parsing, for clients that check what a gateway writes', () => {
  const strict = () => new MultipartParser(STREAM_BOUNDARY, { strict: true });
  const part = (headers: string, body = 'hi') => `${headers}\r\n\r\n${body}\r\n--b\r\n`;
  const writerHeaders = 'Content-Type: image/jpeg\r\nContent-Length: 2\r\nX-Timestamp: 1764086400.000000\r\nX-Sequence: 7';

  it('accepts what the writer writes, however it is split', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const parser = strict();
      const parts = [...parser.push(stream.subarray(0, cut)), ...parser.push(stream.subarray(cut))];
      assert.deepEqual(
        parts.map((p) => p.body),
        frames,
        `split at ${cut}`,
      );
    }
  });

  it('passes other headers through, such as X-No-Signal', () => {
    const noSignal = Buffer.concat([streamPreamble(), encodePart(frames[0]!, { capturedAt: 0, sequence: 1, noSignal: true })]);
    assert.equal(strict().push(noSignal)[0]?.headers['x-no-signal'], '1');
  });

  it('accepts a closing delimiter', () => {
    const parser = new MultipartParser('b', { strict: true });
    parser.push(Buffer.from(`--b\r\n${part(writerHeaders)}`.replace(/--b\r\n$/, '--b--')));
    assert.ok(parser.ended);
  });

  // Each of these is fine for the lenient parser: it is strictness, not a different format.
  const tolerated: Array<[string, string]> = [
    ['a blank line before the first delimiter', `\r\n--b\r\n${part(writerHeaders)}`],
    ['blank lines between parts', `--b\r\n${part(writerHeaders)}`.replace(/\r\n--b\r\n$/, '\r\n\r\n--b\r\n')],
    ['whitespace after a delimiter', `--b \r\n${part(writerHeaders)}`],
    ['a part without headers', '--b\r\n\r\nhi\r\n--b\r\n'],
    ['a part without Content-Length', `--b\r\n${part(writerHeaders.replace('Content-Length: 2\r\n', ''))}`],
    ['a part of another type', `--b\r\n${part(writerHeaders.replace('image/jpeg', 'image/png'))}`],
    ['a part without X-Sequence', `--b\r\n${part(writerHeaders.replace('\r\nX-Sequence: 7', ''))}`],
    ['a negative X-Sequence', `--b\r\n${part(writerHeaders.replace('X-Sequence: 7', 'X-Sequence: -7'))}`],
    ['an X-Sequence beyond 2^53', `--b\r\n${part(writerHeaders.replace('X-Sequence: 7', 'X-Sequence: 9007199254740993'))}`],
    ['a part without X-Timestamp', `--b\r\n${part(writerHeaders.replace('X-Timestamp: 1764086400.000000\r\n', ''))}`],
    ['an X-Timestamp that is not a number', `--b\r\n${part(writerHeaders.replace('1764086400.000000', 'NaN'))}`],
    ['an empty X-Timestamp', `--b\r\n${part(writerHeaders.replace('1764086400.000000', ''))}`],
  ];
  for (const [name, input] of tolerated) {
    it(`rejects ${name}`, () => {
      assert.equal(new MultipartParser('b').push(Buffer.from(input)).length, 1, 'the lenient parser reads it');
      assert.throws(() => new MultipartParser('b', { strict: true }).push(Buffer.from(input)), MultipartError);
    });
  }

  it('rejects a wrong first byte at once, before a whole delimiter has arrived', () => {
    assert.throws(() => new MultipartParser('b', { strict: true }).push(Buffer.from('\r')), MultipartError);
    assert.deepEqual(new MultipartParser('b').push(Buffer.from('\r')), []);
  });

  it('keeps its limits', () => {
    const parser = new MultipartParser('b', { strict: true, maxPartBytes: 1 });
    assert.throws(() => parser.push(Buffer.from(`--b\r\n${part(writerHeaders)}`)), /exceeds 1 bytes/);
  });
});

describe('where a stream stopped', () => {
  const head = 'Content-Type: image/jpeg\r\nContent-Length: 4\r\nX-Timestamp: 1.5\r\nX-Sequence: 1\r\n\r\n';

  it('knows when the input stops inside a body, and only then', () => {
    for (const strict of [false, true]) {
      const parser = new MultipartParser('b', { strict });
      const after = (input: string) => (parser.push(Buffer.from(input)), parser.midBody);
      assert.equal(parser.midBody, false, 'nothing yet');
      assert.equal(after('--b\r\nContent-'), false, 'in the headers');
      assert.equal(after(head.slice('Content-'.length)), false, 'headers complete, no body yet');
      assert.equal(after('ab'), true, 'half of the body');
      assert.equal(after('c'), true, 'three quarters');
      assert.equal(after('d'), false, 'the whole body');
      assert.equal(after('\r\n--b\r\n'), false, 'between parts');
    }
  });

  it('knows it inside a body without Content-Length', () => {
    const parser = new MultipartParser('b');
    parser.push(Buffer.from('--b\r\n\r\n'));
    assert.equal(parser.midBody, false);
    parser.push(Buffer.from('ab'));
    assert.equal(parser.midBody, true);
    assert.equal(parser.push(Buffer.from('\r\n--b\r\n')).length, 1);
    assert.equal(parser.midBody, false);
  });

  it('accepts the end of the input only after the closing delimiter', () => {
    const endsAfter = (input: string) => () => {
      const parser = new MultipartParser('b');
      parser.push(Buffer.from(input));
      parser.end();
    };
    assert.doesNotThrow(endsAfter(`--b\r\n${head}abcd\r\n--b--`));
    assert.doesNotThrow(endsAfter(`--b\r\n${head}abcd\r\n--b--\r\nepilogue`));
    assert.throws(endsAfter(''), /without its closing delimiter/);
    assert.throws(endsAfter(`--b\r\n${head}abcd\r\n--b\r\n`), /without its closing delimiter/);
    assert.throws(endsAfter(`--b\r\n${head}abcd`), /without its closing delimiter/);
    assert.throws(endsAfter(`--b\r\n${head}ab`), /in the middle of a part/);
    assert.throws(endsAfter('--b\r\nContent-Type: ima'), /in the middle of a part/);
  });
});
