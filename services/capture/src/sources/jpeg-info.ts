/**
 * What a source's own JPEG must be for capture to publish it unchanged: a complete baseline
 * JPEG (what every browser draws in an `<img>`), and its size, read from its frame header.
 */

export interface JpegInfo {
  readonly width: number;
  readonly height: number;
}

const SOI = 0xd8;
const EOI = 0xd9;
const SOS = 0xda;
const DHT = 0xc4;
/** Baseline and extended sequential Huffman frames; progressive, lossless and arithmetic ones are not passed on. */
const SEQUENTIAL_FRAMES = new Set([0xc0, 0xc1]);
const OTHER_FRAMES = new Set([0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

/**
 * The size of a complete baseline JPEG, or the reason it is not one: no start or end marker
 * (a cut packet), a frame that is not baseline, or no Huffman tables (many USB webcams leave
 * them out of their MJPEG frames, and browsers cannot draw those).
 */
export function inspectJpeg(bytes: Uint8Array): JpegInfo | { readonly problem: string } {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== SOI) return { problem: 'no JPEG start marker' };
  if (bytes[bytes.length - 2] !== 0xff || bytes[bytes.length - 1] !== EOI) return { problem: 'no JPEG end marker (a cut frame)' };
  let size: JpegInfo | undefined;
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
      if (!huffmanTables) return { problem: 'no Huffman tables (browsers cannot draw it)' };
      return size;
    }
    at += 2 + length;
  }
  return { problem: 'no scan' };
}
