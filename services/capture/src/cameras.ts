/** The CAMERAS variable: `ID=SOURCE[,OPTION]` entries separated by `;`. */
import { hideCredentials } from '@camrelay/config';
import { isCameraId } from '@camrelay/frame';
import { CAPTURE_DEFAULTS } from './defaults.js';

export type SourceSpec =
  | { readonly kind: 'device'; readonly index: number }
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'url'; readonly url: string }
  | { readonly kind: 'pattern'; readonly width: number; readonly height: number; readonly fps: number }
  | { readonly kind: 'auto' };

export interface CameraSpec {
  readonly id: string;
  readonly source: SourceSpec;
  /** Publish a frame whose JPEG is the same as the last one published (option `every-frame`); by default it is skipped. */
  readonly publishUnchanged: boolean;
  /** Keep the camera open with nobody watching (option `always`); by default it closes after CAPTURE_IDLE_AFTER. */
  readonly alwaysOn: boolean;
  /**
   * The smaller sizes viewers may ask for (option `sizes=WxH+WxH`, or `sizes=none`); null for
   * the default, half and quarter of the camera's own size. Never larger than the camera's.
   */
  readonly sizes: ReadonlyArray<{ readonly width: number; readonly height: number }> | null;
}

/** Options after the source, each `,NAME`. Only these are taken off its end: a URL may hold commas. */
const OPTIONS = ['every-frame', 'always', 'sizes=WxH+WxH|none'] as const;
const OPTION_AT_END = /,(every-frame|always|sizes=(?:none|\d{1,5}x\d{1,5}(?:\+\d{1,5}x\d{1,5})*))$/;

const SOURCE_FORMS = 'device:N, file:/path/video.mp4, rtsp://…, http(s)://…, pattern:WxH@FPS or auto';

/** Returns the cameras, or throws an Error whose message says which entry is wrong and why. */
export function parseCameras(value: string): CameraSpec[] {
  const entries = value
    .split(';')
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
  if (entries.length === 0) throw new Error('no cameras; expected ID=SOURCE entries separated by ";"');
  const seen = new Set<string>();
  return entries.map((entry, index) => {
    const where = `entry ${index + 1} (${JSON.stringify(hideCredentials(entry))})`;
    const equals = entry.indexOf('=');
    if (equals === -1) throw new Error(`${where} is not ID=SOURCE`);
    const id = entry.slice(0, equals).trim();
    if (!isCameraId(id)) throw new Error(`${where}: camera id must be 1-64 letters, digits, "_" or "-", starting with a letter or digit`);
    if (seen.has(id)) throw new Error(`${where}: camera id ${JSON.stringify(id)} appears twice`);
    seen.add(id);
    let text = entry.slice(equals + 1).trim();
    const options = new Set<string>();
    let sizes: CameraSpec['sizes'] = null;
    for (let option = OPTION_AT_END.exec(text)?.[1]; option; option = OPTION_AT_END.exec(text)?.[1]) {
      if (option.startsWith('sizes=')) sizes = parseSizes(option.slice('sizes='.length), where);
      else options.add(option);
      text = text.slice(0, -option.length - 1).trimEnd();
    }
    const source = parseSource(text);
    if (!source)
      throw new Error(`${where}: unknown source; expected ${SOURCE_FORMS}, then options ${OPTIONS.map((o) => `,${o}`).join(' ')}`);
    return { id, source, publishUnchanged: options.has('every-frame'), alwaysOn: options.has('always'), sizes };
  });
}

function parseSizes(text: string, where: string): CameraSpec['sizes'] {
  if (text === 'none') return [];
  return text.split('+').map((size) => {
    const [width, height] = size.split('x').map(Number) as [number, number];
    if (width < 16 || height < 16) throw new Error(`${where}: size ${size} is too small; sizes are at least 16x16`);
    return { width, height };
  });
}

function parseSource(text: string): SourceSpec | null {
  if (text === 'auto') return { kind: 'auto' };
  if (text === 'pattern') return CAPTURE_DEFAULTS.pattern;
  const device = /^device:(\d{1,3})$/.exec(text);
  if (device) return { kind: 'device', index: Number(device[1]) };
  if (text.startsWith('file:') && text.length > 'file:'.length) return { kind: 'file', path: text.slice('file:'.length) };
  if (/^(rtsp|rtsps|http|https):\/\/\S+$/.test(text) && URL.canParse(text)) return { kind: 'url', url: text };
  const pattern = /^pattern:(\d{2,4})x(\d{2,4})@(\d{1,2})$/.exec(text);
  if (pattern) {
    const [width, height, fps] = [Number(pattern[1]), Number(pattern[2]), Number(pattern[3])];
    if (width < 16 || width > 3840 || height < 16 || height > 2160 || fps < 1 || fps > 60) return null;
    return { kind: 'pattern', width, height, fps };
  }
  return null;
}
