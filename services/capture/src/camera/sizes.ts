/** The smaller sizes a camera offers its viewers, besides its own. */

export interface NamedSize {
  readonly width: number;
  readonly height: number;
  /** `WxH`, as viewers ask for it (`?size=`). */
  readonly name: string;
}

/** Below this in either dimension a size is not worth a feed. */
const SMALLEST = 16;

/**
 * The smaller sizes of a camera of `width` x `height`: those configured (`sizes=` in CAMERAS),
 * or by default half and quarter. Never the camera's own size and never larger: a configured
 * size that does not fit is refused (reported once through `onRefused`), as upscaling would
 * cost bandwidth for no detail.
 */
export function smallerSizes(
  configured: ReadonlyArray<{ readonly width: number; readonly height: number }> | null,
  width: number,
  height: number,
  onRefused: (sizes: string[]) => void,
): NamedSize[] {
  const candidates = configured ?? [2, 4].map((divisor) => ({ width: Math.round(width / divisor), height: Math.round(height / divisor) }));
  const offered: NamedSize[] = [];
  const refused: string[] = [];
  for (const size of candidates) {
    const name = `${size.width}x${size.height}`;
    if (size.width === width && size.height === height) continue;
    if (size.width > width || size.height > height) refused.push(name);
    else if (size.width >= SMALLEST && size.height >= SMALLEST && !offered.some((known) => known.name === name))
      offered.push({ ...size, name });
  }
  if (refused.length > 0) onRefused(refused);
  return offered;
}
