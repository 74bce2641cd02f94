/**
 * What a source's own JPEG must be for capture to publish it unchanged: a complete baseline
 * JPEG (what every browser draws in an `<img>`), and its size, read from its frame header.
 */

export interface JpegInfo {
  readonly width: number;
  readonly height: number;
  /**
   * False for the frames many USB webcams send: MJPEG leaves out the Huffman tables and means
   * the standard ones, which a browser does not assume (withStandardHuffmanTables adds them).
   */
  readonly huffmanTables: boolean;
  /** Where the scan's marker starts: where missing tables go. */
  readonly scanAt: number;
}

/**
 * The standard Huffman tables (ITU T.81 Annex K.3: DC and AC, luminance and chrominance) as one
 * run of DHT segments, 432 bytes: what an MJPEG frame without tables is decoded with. Taken
 * from libjpeg's output, which writes these tables unless told to optimise them.
 */
const STANDARD_HUFFMAN_TABLES = Buffer.from(
  '/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6',
  'base64',
);

/** A frame without Huffman tables made complete: the standard ones, before its scan. */
export function withStandardHuffmanTables(jpeg: Uint8Array, info: JpegInfo): Buffer {
  return Buffer.concat([jpeg.subarray(0, info.scanAt), STANDARD_HUFFMAN_TABLES, jpeg.subarray(info.scanAt)]);
}

const SOI = 0xd8;
const EOI = 0xd9;
const SOS = 0xda;
const DHT = 0xc4;
/** Baseline and extended sequential Huffman frames; progressive, lossless and arithmetic ones are not passed on. */
const SEQUENTIAL_FRAMES = new Set([0xc0, 0xc1]);
const OTHER_FRAMES = new Set([0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

/**
 * The size of a complete baseline JPEG (but for Huffman tables, which MJPEG may leave out), or
 * the reason it is not one: no start or end marker (a cut packet), or a frame that is not
 * baseline.
 */
export function inspectJpeg(bytes: Uint8Array): JpegInfo | { readonly problem: string } {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== SOI) return { problem: 'no JPEG start marker' };
  if (bytes[bytes.length - 2] !== 0xff || bytes[bytes.length - 1] !== EOI) return { problem: 'no JPEG end marker (a cut frame)' };
  let size: { width: number; height: number } | undefined;
  let huffmanTables = false;
  // Marker segments up to the scan: each is FF, a marker byte, and a big-endian length that
  // counts itself.
  for (let at = 2; at + 4 <= bytes.length;) {
    if (bytes[at] !== 0xff) return { problem: 'a damaged marker segment' };
    const marker = bytes[at + 1]!;
    if (marker === 0xff) {
      at++; // fill byte
      continue;
    }
    const length = (bytes[at + 2]! << 8) | bytes[at + 3]!;
    if (length < 2 || at + 2 + length > bytes.length) return { problem: 'a damaged marker segment' };
    if (SEQUENTIAL_FRAMES.has(marker)) {
      if (length < 7) return { problem: 'a damaged frame header' };
      size = { height: (bytes[at + 5]! << 8) | bytes[at + 6]!, width: (bytes[at + 7]! << 8) | bytes[at + 8]! };
    } else if (OTHER_FRAMES.has(marker)) {
      return { problem: 'not a baseline JPEG (progressive, lossless or arithmetic-coded)' };
    } else if (marker === DHT) {
      huffmanTables = true;
    } else if (marker === SOS) {
      if (!size || size.width === 0 || size.height === 0) return { problem: 'no frame header before the scan' };
      return { ...size, huffmanTables, scanAt: at };
    }
    at += 2 + length;
  }
  return { problem: 'no scan' };
}
