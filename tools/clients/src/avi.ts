/**
 * Writes an MJPEG AVI from JPEGs given byte for byte: a file whose every frame's bytes the
 * caller knows (capture passes them through unchanged), unlike one from OpenCV's VideoWriter,
 * which encodes its own.
 */
import { writeFileSync } from 'node:fs';

export interface AviOptions {
  readonly width: number;
  readonly height: number;
  readonly fps: number;
}

export function writeMjpegAvi(path: string, jpegs: readonly Buffer[], { width, height, fps }: AviOptions): void {
  const u32 = (value: number) => {
    const bytes = Buffer.alloc(4);
    bytes.writeUInt32LE(value >>> 0);
    return bytes;
  };
  const u16 = (value: number) => {
    const bytes = Buffer.alloc(2);
    bytes.writeUInt16LE(value);
    return bytes;
  };
  const chunk = (id: string, data: Buffer) =>
    Buffer.concat([Buffer.from(id, 'latin1'), u32(data.length), data, data.length % 2 ? Buffer.alloc(1) : Buffer.alloc(0)]);
  const list = (type: string, ...items: Buffer[]) => chunk('LIST', Buffer.concat([Buffer.from(type, 'latin1'), ...items]));
  const largest = Math.max(...jpegs.map((jpeg) => jpeg.length));

  const avih = chunk(
    'avih',
    Buffer.concat([
      u32(Math.round(1e6 / fps)), // microseconds per frame
      u32(largest * fps),
      u32(0),
      u32(0x10), // AVIF_HASINDEX
      u32(jpegs.length),
      u32(0),
      u32(1), // streams
      u32(largest),
      u32(width),
      u32(height),
      Buffer.alloc(16),
    ]),
  );
  const strh = chunk(
    'strh',
    Buffer.concat([
      Buffer.from('vidsMJPG', 'latin1'),
      u32(0),
      u16(0),
      u16(0),
      u32(0),
      u32(1), // scale
      u32(fps), // rate: fps = rate / scale
      u32(0),
      u32(jpegs.length),
      u32(largest),
      u32(0xffffffff), // quality: default
      u32(0),
      u16(0),
      u16(0),
      u16(width),
      u16(height),
    ]),
  );
  const strf = chunk(
    'strf',
    Buffer.concat([
      u32(40),
      u32(width),
      u32(height),
      u16(1),
      u16(24),
      Buffer.from('MJPG', 'latin1'),
      u32(width * height * 3),
      Buffer.alloc(16),
    ]),
  );
  const frames = jpegs.map((jpeg) => chunk('00dc', jpeg));
  const movi = list('movi', ...frames);
  // idx1 offsets count from the 'movi' type field, as most writers do.
  let offset = 4;
  const index = frames.map((frame, i) => {
    const entry = Buffer.concat([Buffer.from('00dc', 'latin1'), u32(0x10), u32(offset), u32(jpegs[i]!.length)]);
    offset += frame.length;
    return entry;
  });
  const body = Buffer.concat([
    Buffer.from('AVI ', 'latin1'),
    list('hdrl', avih, list('strl', strh, strf)),
    movi,
    chunk('idx1', Buffer.concat(index)),
  ]);
  writeFileSync(path, Buffer.concat([Buffer.from('RIFF', 'latin1'), u32(body.length), body]));
}
