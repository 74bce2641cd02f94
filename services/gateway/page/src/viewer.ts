/**
 * The viewer page: every camera, live, in any browser.
 *
 * Browsers open at most 6 HTTP/1.1 connections per host, and a live MJPEG <img> holds one for
 * as long as it shows. So only tiles on screen stream (at most MAX_LIVE of them: 4 over
 * HTTP/1.1, every one over HTTP/2), the others show snapshots, and a hidden page releases every
 * stream, by aborting its fetch.
 *
 * A live tile reads its stream with fetch and shows each part as it arrives (an <img> would
 * report no event per frame), so the page knows the stream delivers. When no part has come for
 * STALL_MS (its gateway went away, the connection hangs) or the stream ends, it is reopened
 * through the load balancer. A still scene is not a stall: capture publishes its unchanged
 * picture once a second, and a camera without frames keeps streaming too: the gateway sends a
 * blinking NO SIGNAL picture, and the live picture returns by itself.
 *
 * With access control on, the page asks /api/cameras with a token (from the link's #token=…,
 * kept in sessionStorage, or typed in) and streams the signed URLs the API hands out, which
 * an <img> can open without credentials. The URLs are refreshed with the camera list.
 *
 * Each tile also offers the H.264 tier (stream.mp4, a fraction of motion JPEG's bytes): a
 * button in its caption switches, and the choice is kept per camera. Where the browser says its
 * connection is slow or metered (Network Information: Save-Data, or 3G and below) tiles start
 * in H.264. It plays through Media Source Extensions, kept within a second of the
 * newest frame; a browser without them, or one that cannot decode Constrained Baseline H.264,
 * is never offered the tier, and a tile whose H.264 stream brings nothing falls back to motion JPEG.
 */

/** A camera as /api/cameras lists it (the fields this page reads). */
interface Camera {
  readonly id: string;
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  readonly online: boolean;
  /** Closed because nobody watched it; streaming it opens it. */
  readonly sleeping?: boolean;
  /** What ?size= may ask for, `WxH`: its own size first, then smaller ones. */
  readonly sizes?: readonly string[];
  readonly streamUrl: string;
  /** The H.264 stream (stream.mp4); absent from gateways before it. */
  readonly videoUrl?: string;
  readonly snapshotUrl: string;
}

/** How a tile streams: motion JPEG into its <img>, or H.264 into its <video>. */
type Tier = 'mjpeg' | 'h264';

interface Tile {
  readonly id: string;
  readonly figure: HTMLElement;
  readonly img: HTMLImageElement;
  readonly video: HTMLVideoElement;
  readonly caption: HTMLElement;
  readonly state: HTMLElement;
  readonly toggle: HTMLButtonElement;
  visible: boolean;
  live: boolean;
  retry: number;
  tier: Tier;
  /** The stream being read, while live. */
  reader: PartStream | VideoPlayer | null;
  /** When its stream last delivered a part (or was opened). */
  partAt: number;
  /** Its stream has delivered something since it was opened. */
  delivered: boolean;
  /** H.264 streams in a row that ended or failed before they delivered anything. */
  videoFailures: number;
  /** The object URL the tile shows, released when the next part replaces it. */
  shown: string;
  /** Whether the <img> is still loading the picture it was given last. */
  loading: boolean;
  /** The newest picture that came while another loaded: shown next; older ones are dropped. */
  pending: string;
  online: boolean;
  sleeping: boolean;
  sizes: readonly string[];
  /** The size being streamed (undefined: the camera's own). */
  streamSize: string | undefined;
  streamUrl: string;
  videoUrl: string;
  snapshotUrl: string;
  /** When the URL being streamed expires (the gateway then ends the stream); Infinity unsigned. */
  streamExpiresAt: number;
}

function isCamera(value: unknown): value is Camera {
  if (typeof value !== 'object' || value === null) return false;
  const camera = value as Record<string, unknown>;
  return (
    typeof camera.id === 'string' &&
    typeof camera.width === 'number' &&
    typeof camera.height === 'number' &&
    typeof camera.fps === 'number' &&
    typeof camera.online === 'boolean' &&
    typeof camera.streamUrl === 'string' &&
    typeof camera.snapshotUrl === 'string'
  );
}

function isCameraList(value: unknown): value is Camera[] {
  return Array.isArray(value) && value.every(isCamera);
}

/** One of the page's own elements: the HTML holds them, so a missing one is a broken page. */
function pageElement<T extends HTMLElement>(id: string, type: new () => T): T {
  const found = document.getElementById(id);
  if (!(found instanceof type)) throw new Error(`the page has no ${type.name} #${id}`);
  return found;
}

/**
 * Over HTTP/2 (or 3) every request to the host shares one connection, and every tile on screen
 * streams, up to what a connection carries at once (HAProxy: 100 streams) less room for the
 * camera list. Over HTTP/1.1 browsers open 6 connections per host: 4 streams leave room for the
 * camera list and the other tiles' snapshots, which are small (the size of their tile) and
 * refreshed each second.
 */
const MULTIPLEXED = /^h[23]/.test(
  (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming | undefined)?.nextHopProtocol ?? '',
);
const MAX_LIVE = MULTIPLEXED ? 90 : 4;
/** H.264 as capture makes it (Constrained Baseline), played through Media Source Extensions. */
const H264_PLAYABLE = typeof MediaSource !== 'undefined' && MediaSource.isTypeSupported('video/mp4; codecs="avc1.42C01E"');
/** An H.264 stream may take this long to bring its first bytes: a sleeping camera opens, its encoder starts, a keyframe comes. */
const VIDEO_START_MS = 10_000;
/** H.264 streams in a row that fail before their first byte, after which a tile falls back to motion JPEG. */
const MAX_VIDEO_FAILURES = 3;
/** Playback further than this behind the newest frame buffered jumps ahead to it. */
const MAX_BEHIND_S = 1;
/** Played video older than this is removed from the buffer. */
const KEEP_PLAYED_S = 10;
const TIER_KEY = 'camrelay-tier:';
const SNAPSHOT_EVERY_MS = 1000;
/** With more cameras than this the page is a wall of smaller tiles. */
const WALL_FROM = 4;
const STALL_MS = 2500;
/** A streamed URL this close to its expiry is replaced by a fresh one: three camera-list refreshes. */
const RENEW_BEFORE_MS = 15_000;
const WATCH_EVERY_MS = 500;
/** A part's header block is ~100 bytes: one longer than this is not a stream of ours. */
const MAX_HEAD_BYTES = 8192;
const grid = pageElement('cameras', HTMLElement);
const status = pageElement('status', HTMLElement);
const tiles = new Map<string, Tile>();
const login = pageElement('login', HTMLFormElement);
const tokenInput = pageElement('token', HTMLInputElement);
const TOKEN_KEY = 'camrelay-token';
// A link may carry the token in its fragment, which is never sent to a server; keep it for
// this tab and take it out of the address bar.
const fromLink = tokenInFragment(location.hash);
if (fromLink) {
  sessionStorage.setItem(TOKEN_KEY, fromLink);
  history.replaceState(null, '', location.pathname + location.search);
}
login.addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, tokenInput.value.trim());
  login.classList.remove('shown');
  void loadCameras();
});

/** A signed URL's expiry (its `exp`) in ms since the epoch; Infinity for an unsigned URL. */
function expiryOf(url: string): number {
  const exp = new URL(url, location.href).searchParams.get('exp');
  return exp === null ? Infinity : Number(exp) * 1000;
}

/** The width of a `WxH` size. */
function widthOf(size: string): number {
  return Number(size.slice(0, size.indexOf('x')));
}

/**
 * The smallest of the camera's sizes that fills its tile's picture on this screen (its pixels,
 * not CSS pixels), or its own when none does; undefined for the camera's own size.
 */
function sizeFor(tile: Tile): string | undefined {
  const needed = tile.img.getBoundingClientRect().width * devicePixelRatio;
  const smaller = tile.sizes.slice(1);
  return smaller.filter((size) => widthOf(size) >= needed).sort((a, b) => widthOf(a) - widthOf(b))[0];
}

/** A camera URL asking for a size (none: the camera's own). */
function sized(url: string, size: string | undefined): string {
  if (size === undefined) return url;
  const withSize = new URL(url, location.href);
  withSize.searchParams.set('size', size);
  return withSize.pathname + withSize.search;
}

/** A camera URL from the API, made unique so the browser opens a new connection. */
function fresh(url: string): string {
  const unique = new URL(url, location.href);
  unique.searchParams.set('t', String(Date.now()));
  return unique.pathname + unique.search;
}

/** Network Information (Chromium-based browsers); other browsers say nothing, and tiles start in motion JPEG. */
interface NetworkInformation {
  readonly saveData?: boolean;
  readonly effectiveType?: string;
}

/**
 * Whether the browser reports a connection too slow or too dear for motion JPEG (640x480 at
 * 30 fps needs 8-10 Mbit/s): Save-Data, or 3G and below. Its `downlink` is left alone: before
 * it has measured anything Chromium reports a made-up 1.6 Mbit/s.
 */
function slowConnection(): boolean {
  const connection = (navigator as Navigator & { connection?: NetworkInformation }).connection;
  if (!connection) return false;
  return connection.saveData === true || /^(slow-2g|2g|3g)$/.test(connection.effectiveType ?? '');
}

/** The tier a camera's tile starts in: the one chosen for it last, else H.264 on a slow connection. */
function tierFor(cameraId: string): Tier {
  if (!H264_PLAYABLE) return 'mjpeg';
  const chosen = stored(TIER_KEY + cameraId);
  if (chosen === 'mjpeg' || chosen === 'h264') return chosen;
  return slowConnection() ? 'h264' : 'mjpeg';
}

/** localStorage, which a browser may refuse (private modes, blocked storage): then nothing is kept. */
function stored(key: string, value?: string): string | null {
  try {
    if (value !== undefined) localStorage.setItem(key, value);
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function showTier(tile: Tile): void {
  tile.toggle.textContent = tile.tier === 'h264' ? 'H.264' : 'MJPEG';
  tile.toggle.title =
    tile.tier === 'h264' ? 'H.264 (low bandwidth): click for motion JPEG' : 'motion JPEG: click for H.264 (low bandwidth)';
  tile.figure.dataset.tier = tile.tier;
}

const observer = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    const id = entry.target instanceof HTMLElement ? entry.target.dataset.id : undefined;
    const tile = id === undefined ? undefined : tiles.get(id);
    if (tile) tile.visible = entry.isIntersecting;
  }
  refreshStreams();
});

function tileFor(camera: Camera): Tile {
  const known = tiles.get(camera.id);
  if (known) return known;
  const figure = document.createElement('figure');
  figure.dataset.id = camera.id;
  figure.title = 'double-click: full screen';
  const img = document.createElement('img');
  img.alt = 'camera ' + camera.id;
  img.decoding = 'async';
  const caption = document.createElement('figcaption');
  const name = document.createElement('span');
  name.className = 'name';
  name.textContent = camera.id;
  const state = document.createElement('span');
  state.className = 'state';
  const toggle = document.createElement('button');
  toggle.type = 'button';
  toggle.className = 'tier';
  toggle.hidden = !H264_PLAYABLE;
  caption.append(name, toggle, state);
  const video = document.createElement('video');
  video.muted = true;
  video.playsInline = true;
  figure.append(img, video, caption);
  grid.append(figure);
  const tile: Tile = {
    id: camera.id,
    figure,
    img,
    video,
    caption,
    state,
    toggle,
    visible: false,
    live: false,
    retry: 0,
    tier: tierFor(camera.id),
    reader: null,
    partAt: 0,
    delivered: false,
    videoFailures: 0,
    shown: '',
    loading: false,
    pending: '',
    online: camera.online,
    sleeping: camera.sleeping === true,
    sizes: camera.sizes ?? [],
    streamSize: undefined,
    streamUrl: camera.streamUrl,
    videoUrl: camera.videoUrl ?? '',
    snapshotUrl: camera.snapshotUrl,
    streamExpiresAt: Infinity,
  };
  tiles.set(camera.id, tile);
  showTier(tile);
  toggle.addEventListener('click', () => {
    tile.tier = tile.tier === 'h264' ? 'mjpeg' : 'h264';
    stored(TIER_KEY + tile.id, tile.tier);
    showTier(tile);
    if (tile.live) startStream(tile);
  });
  // A double-click on the button is two clicks, not a request for full screen.
  toggle.addEventListener('dblclick', (event) => event.stopPropagation());
  observer.observe(figure);
  const loaded = () => {
    tile.loading = false;
    const next = tile.pending;
    tile.pending = '';
    if (next) show(tile, next);
  };
  img.addEventListener('load', loaded);
  img.addEventListener('error', loaded);
  // Full screen shows one camera at its own size (the tile's picture is the whole screen).
  figure.addEventListener('dblclick', () => {
    if (document.fullscreenElement === figure) void document.exitFullscreen();
    else void figure.requestFullscreen();
  });
  return tile;
}

function startStream(tile: Tile): void {
  const video = tile.tier === 'h264' && tile.videoUrl !== '';
  tile.live = true;
  tile.partAt = performance.now();
  tile.delivered = false;
  const base = video ? tile.videoUrl : tile.streamUrl;
  tile.streamExpiresAt = expiryOf(base);
  tile.streamSize = sizeFor(tile);
  // A fresh URL each time, so the browser opens a new connection rather than reusing an ended one.
  const url = fresh(sized(base, tile.streamSize));
  tile.figure.dataset.stream = url;
  tile.figure.classList.toggle('video', video);
  const delivered = () => {
    tile.partAt = performance.now();
    tile.delivered = true;
    if (video) tile.videoFailures = 0;
  };
  const ended = () => {
    // H.264 refused three times over before a byte came (a camera that lost the tier): motion JPEG.
    if (video && !tile.delivered && ++tile.videoFailures >= MAX_VIDEO_FAILURES) fallBack(tile);
    // The stream ended or failed: let it go and reopen it shortly.
    stopStream(tile);
    clearTimeout(tile.retry);
    tile.retry = setTimeout(refreshStreams, 1000);
  };
  tile.reader?.close();
  const reader: PartStream | VideoPlayer = video
    ? new VideoPlayer(
        url,
        tile.video,
        () => tile.reader === reader && delivered(),
        () => tile.reader === reader && ended(),
      )
    : new PartStream(
        url,
        (jpeg) => {
          if (tile.reader !== reader) return;
          delivered();
          show(tile, URL.createObjectURL(jpeg));
        },
        () => tile.reader === reader && ended(),
      );
  tile.reader = reader;
}

/**
 * Shows a picture in a tile, releasing the one it replaces. A new src aborts the load under way:
 * where parts come faster than this browser decodes them (a slow phone, a busy machine), every
 * load would be aborted and the picture would freeze. So while one loads, only the newest part
 * waits, and the ones between are dropped, as the gateway drops frames for a slow socket.
 */
function show(tile: Tile, src: string): void {
  // A part loads from memory; a snapshot from the network may take long, and is not waited for.
  if (tile.loading && tile.shown.startsWith('blob:')) {
    release(tile.pending);
    tile.pending = src;
    return;
  }
  const previous = tile.shown;
  tile.shown = src;
  tile.loading = true;
  tile.img.src = src;
  release(previous);
}

/** Frees a part's picture once nothing shows it (a snapshot's URL holds nothing). */
function release(src: string): void {
  if (src.startsWith('blob:')) URL.revokeObjectURL(src);
}

function watchStreams(): void {
  const now = performance.now();
  for (const tile of tiles.values()) {
    if (!tile.live) continue;
    const starting = tile.tier === 'h264' && !tile.delivered;
    const quiet = now - tile.partAt >= (starting ? VIDEO_START_MS : STALL_MS);
    // An H.264 stream that never brought a byte (a capture host without FFmpeg): motion JPEG.
    if (quiet && starting) fallBack(tile);
    // A stalled stream is reopened; so is one whose tile now wants another size (a resized window, full screen).
    if (quiet || sizeFor(tile) !== tile.streamSize) startStream(tile);
  }
}

/** Motion JPEG for a tile whose H.264 does not come, until its button asks for H.264 again. */
function fallBack(tile: Tile): void {
  tile.tier = 'mjpeg';
  tile.videoFailures = 0;
  showTier(tile);
}

function stopStream(tile: Tile): void {
  tile.live = false;
  tile.reader?.close();
  tile.reader = null;
  tile.figure.classList.remove('video');
  delete tile.figure.dataset.stream;
}

/**
 * An H.264 stream (fragmented MP4) played live through Media Source Extensions: the bytes go
 * to a SourceBuffer as they arrive. A plain <video src> would buffer seconds before it played
 * and fall further behind after each stall; here playback jumps to the newest frame buffered
 * whenever it is more than MAX_BEHIND_S behind, or stuck before a gap (the gateway skips a
 * viewer that fell behind to the next keyframe, which leaves one), and what was played is
 * removed from the buffer as it goes.
 */
class VideoPlayer {
  private readonly abort = new AbortController();
  private readonly source = new MediaSource();
  private readonly sourceUrl: string;
  private buffer: SourceBuffer | null = null;
  /** Bytes received, not yet appended; before the SourceBuffer exists, the start of the stream. */
  private pending: Uint8Array<ArrayBuffer>[] = [];

  constructor(
    url: string,
    private readonly video: HTMLVideoElement,
    private readonly onData: () => void,
    onEnd: () => void,
  ) {
    this.sourceUrl = URL.createObjectURL(this.source);
    const opened = new Promise<void>((resolve) => this.source.addEventListener('sourceopen', () => resolve(), { once: true }));
    video.src = this.sourceUrl;
    this.read(url, opened).then(onEnd, onEnd);
  }

  close(): void {
    this.abort.abort();
    this.video.removeAttribute('src');
    this.video.load();
    URL.revokeObjectURL(this.sourceUrl);
  }

  private async read(url: string, opened: Promise<void>): Promise<void> {
    const response = await fetch(url, { cache: 'no-store', signal: this.abort.signal });
    if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
    await opened;
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      this.pending.push(value);
      this.onData();
      this.append();
    }
  }

  /** Appends what is pending, unless an append or removal is under way (its end appends again). */
  private append(): void {
    try {
      if (!this.buffer) {
        const codec = avcCodecOf(this.pending);
        if (codec === null) return;
        this.buffer = this.source.addSourceBuffer(`video/mp4; codecs="${codec}"`);
        this.buffer.addEventListener('updateend', () => this.append());
      }
      const buffer = this.buffer;
      if (buffer.updating) return;
      this.keepLive();
      const played = this.video.currentTime - KEEP_PLAYED_S;
      if (buffer.buffered.length > 0 && buffer.buffered.start(0) < played - KEEP_PLAYED_S) {
        buffer.remove(0, played);
        return;
      }
      if (this.pending.length === 0) return;
      const bytes = joined(this.pending);
      this.pending = [];
      buffer.appendBuffer(bytes);
    } catch (error) {
      // A stream the browser cannot take (or a full buffer): this stream ends, and the tile opens another.
      this.abort.abort(error);
    }
  }

  private keepLive(): void {
    const { video } = this;
    const ranges = video.buffered;
    if (ranges.length === 0) return;
    const start = ranges.start(ranges.length - 1);
    const end = ranges.end(ranges.length - 1);
    if (video.currentTime < start || end - video.currentTime > MAX_BEHIND_S) video.currentTime = Math.max(start, end - 0.05);
    if (video.paused) void video.play().catch(() => undefined);
  }
}

/** The codec string of an H.264 stream's init segment (its avcC box: profile, constraints, level), or null until it has come. */
function avcCodecOf(chunks: readonly Uint8Array[]): string | null {
  const bytes = joined(chunks);
  for (let i = 4; i + 8 <= bytes.length; i++) {
    // 'avcC', then configurationVersion, AVCProfileIndication, profile_compatibility, AVCLevelIndication.
    if (bytes[i] === 0x61 && bytes[i + 1] === 0x76 && bytes[i + 2] === 0x63 && bytes[i + 3] === 0x43) {
      const hex = (at: number) => bytes[at]!.toString(16).padStart(2, '0');
      return `avc1.${hex(i + 5)}${hex(i + 6)}${hex(i + 7)}`;
    }
  }
  return null;
}

function joined(chunks: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return bytes;
}

/**
 * A multipart/x-mixed-replace stream read with fetch: each part's JPEG, as a Blob, as it
 * arrives. Parts are found by their Content-Length (the gateway sends one with each); the
 * bytes between a part and the next header block are the delimiter.
 */
class PartStream {
  private readonly abort = new AbortController();
  private readonly chunks: Uint8Array<ArrayBuffer>[] = [];
  private queued = 0;
  /** Bytes of the current part's JPEG still to come; -1 while reading a header block. */
  private bodyLeft = -1;

  constructor(
    url: string,
    private readonly onPart: (jpeg: Blob) => void,
    onEnd: () => void,
  ) {
    this.read(url).then(onEnd, onEnd);
  }

  close(): void {
    this.abort.abort();
  }

  private async read(url: string): Promise<void> {
    const response = await fetch(url, { cache: 'no-store', signal: this.abort.signal });
    if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      this.push(value);
    }
  }

  private push(chunk: Uint8Array<ArrayBuffer>): void {
    this.chunks.push(chunk);
    this.queued += chunk.length;
    for (;;) {
      if (this.bodyLeft < 0) {
        const head = this.takeHead();
        if (head === null) return;
        const length = /content-length:\s*(\d+)/i.exec(head);
        if (!length) throw new Error('a part without Content-Length');
        this.bodyLeft = Number(length[1]);
      }
      if (this.queued < this.bodyLeft) return;
      this.onPart(new Blob(this.take(this.bodyLeft), { type: 'image/jpeg' }));
      this.bodyLeft = -1;
    }
  }

  /** The next header block (with the delimiter before it), or null until it has all arrived. */
  private takeHead(): string | null {
    const window = new Uint8Array(Math.min(this.queued, MAX_HEAD_BYTES));
    let filled = 0;
    for (const chunk of this.chunks) {
      if (filled === window.length) break;
      const part = chunk.subarray(0, window.length - filled);
      window.set(part, filled);
      filled += part.length;
    }
    for (let i = 3; i < window.length; i++) {
      if (window[i] === 10 && window[i - 1] === 13 && window[i - 2] === 10 && window[i - 3] === 13) {
        this.take(i + 1);
        return new TextDecoder('latin1').decode(window.subarray(0, i + 1));
      }
    }
    if (window.length === MAX_HEAD_BYTES) throw new Error('part headers too long');
    return null;
  }

  /** Removes `count` bytes from the front, as the slices they were received in. */
  private take(count: number): Uint8Array<ArrayBuffer>[] {
    const taken: Uint8Array<ArrayBuffer>[] = [];
    this.queued -= count;
    while (count > 0) {
      const chunk = this.chunks[0]!;
      if (chunk.length <= count) {
        taken.push(chunk);
        this.chunks.shift();
        count -= chunk.length;
      } else {
        taken.push(chunk.subarray(0, count));
        this.chunks[0] = chunk.subarray(count);
        count = 0;
      }
    }
    return taken;
  }
}

function refreshStreams(): void {
  const hidden = document.visibilityState === 'hidden';
  const fullScreen = document.fullscreenElement;
  let live = 0;
  for (const tile of tiles.values()) {
    const wanted = !hidden && (fullScreen ? tile.figure === fullScreen : tile.visible && live < MAX_LIVE);
    if (wanted) live++;
    if (wanted && !tile.live) startStream(tile);
    if (!wanted && tile.live) stopStream(tile);
  }
}

function refreshSnapshots(): void {
  if (document.visibilityState === 'hidden') return;
  for (const tile of tiles.values()) {
    // A sleeping camera's snapshot wakes it: a tile on screen is being watched.
    if (!tile.live && tile.visible && (tile.online || tile.sleeping)) show(tile, fresh(sized(tile.snapshotUrl, sizeFor(tile))));
  }
}

async function loadCameras(): Promise<void> {
  try {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const response = await fetch('/api/cameras', { cache: 'no-store', headers: token ? { Authorization: 'Bearer ' + token } : {} });
    if (response.status === 401) {
      status.textContent = token ? 'that token was not accepted' : 'an access token is needed';
      login.classList.add('shown');
      return;
    }
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const cameras: unknown = await response.json();
    if (!isCameraList(cameras)) throw new Error('unexpected camera list');
    status.textContent = `${cameras.length}${cameras.length === 1 ? ' camera' : ' cameras'}`;
    grid.classList.toggle('wall', cameras.length > WALL_FROM);
    for (const camera of cameras) {
      const tile = tileFor(camera);
      tile.online = camera.online;
      tile.sleeping = camera.sleeping === true;
      tile.sizes = camera.sizes ?? [];
      tile.streamUrl = camera.streamUrl;
      tile.videoUrl = camera.videoUrl ?? '';
      tile.toggle.hidden = !H264_PLAYABLE || tile.videoUrl === '';
      tile.snapshotUrl = camera.snapshotUrl;
      // Swapped for a fresh URL while the old one still streams: the picture goes on, and the
      // browser shows the last frame until the new stream's first.
      if (tile.live && tile.streamExpiresAt - Date.now() < RENEW_BEFORE_MS && expiryOf(tile.snapshotUrl) > tile.streamExpiresAt)
        startStream(tile);
      tile.figure.classList.toggle('offline', !camera.online);
      if (camera.width && camera.height) tile.figure.style.setProperty('--aspect', `${camera.width} / ${camera.height}`);
      tile.state.textContent = camera.online
        ? `${camera.width}×${camera.height} · ${camera.fps} fps`
        : camera.sleeping === true
          ? 'asleep · opens when watched'
          : 'offline';
    }
  } catch (error) {
    status.textContent = `cannot list cameras (${error instanceof Error ? error.message : String(error)}), retrying…`;
  }
  refreshStreams();
}

document.addEventListener('visibilitychange', refreshStreams);
document.addEventListener('fullscreenchange', refreshStreams);
window.addEventListener('pagehide', () => {
  for (const tile of tiles.values()) stopStream(tile);
});
window.addEventListener('pageshow', refreshStreams);
void loadCameras();
setInterval(() => void loadCameras(), 5000);
setInterval(refreshSnapshots, SNAPSHOT_EVERY_MS);
setInterval(watchStreams, WATCH_EVERY_MS);

/**
 * The `token` of a `#token=…` fragment, read by hand: URLSearchParams reads "+" as a space, and
 * tokens may hold "+" and "/" (`openssl rand -base64 24` makes such tokens).
 */
function tokenInFragment(hash: string): string | null {
  for (const pair of hash.slice(1).split('&')) {
    const equals = pair.indexOf('=');
    if (equals > 0 && pair.slice(0, equals) === 'token') {
      try {
        return decodeURIComponent(pair.slice(equals + 1)) || null;
      } catch {
        return null;
      }
    }
  }
  return null;
}
