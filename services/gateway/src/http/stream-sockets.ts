import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { Socket } from 'node:net';

type Listener = (...args: unknown[]) => void;
type FreeParser = (parser: unknown, request: IncomingMessage, socket: Socket) => void;

/**
 * Node's own parser release, the one its upgrade path (WebSocket, CONNECT) uses to hand a
 * connection over: unconsumes the socket, takes the parser off the server's connection list
 * (request and headers timeouts) and returns it to the pool. The same function on Node 20, 22
 * and 24. `_http_common` is deprecated (DEP0199): where a Node no longer has it, or no longer
 * exports the function, streams stay with the HTTP server (more memory, same behaviour), and
 * the gateway says so once and counts them.
 */
const freeParser: FreeParser | undefined = (() => {
  try {
    const common = createRequire(import.meta.url)('_http_common') as { freeParser?: unknown };
    return typeof common.freeParser === 'function' ? (common.freeParser as FreeParser) : undefined;
  } catch {
    return undefined;
  }
})();

/**
 * Keepalive probes on a stream's socket: a viewer whose host vanished without a FIN or a reset
 * (power lost, a phone gone out of range) is found even while its stream is quiet (a low
 * ?fps=, a camera without signal), instead of holding a slot until the kernel gives up.
 */
const STREAM_KEEPALIVE_MS = 15_000;

/** Listeners every net.Socket is born with (net's own end-of-stream handling): never removed. */
const kept = new WeakSet<Listener>(
  (() => {
    const bare = new Socket();
    return bare.eventNames().flatMap((event) => bare.listeners(event) as Listener[]);
  })(),
);

/**
 * How gateway code that sees every connection (from the server's 'connection' event) learns of
 * its close: a listener added this way survives the hand-over, which removes every other
 * listener the HTTP server and Koa put on the socket.
 */
export function onConnectionClose(socket: Socket, listener: () => void): void {
  kept.add(listener);
  // 'close' comes once: on() spares the wrapper once() adds (a bound function and its state)
  // to every connection, as the gateway's other 'close' listeners do.
  socket.on('close', listener);
}

/**
 * The sockets of open streams, taken from Node's HTTP server and Koa once the response head is
 * written. A stream lives for hours and is only ever written to; left with the HTTP server it
 * keeps its request, response, parser, Koa context and the listeners tying them together:
 * about 10 KB of retained heap a viewer, against ~3 KB handed over (the socket, its Viewer and
 * listeners), as test/stream-memory.test.ts measures.
 */
export class StreamSockets {
  private readonly open = new Set<Socket>();
  /** Streams left attached to the HTTP server because this Node has no parser release. */
  attached = 0;

  /** False where streams stay with the HTTP server (see freeParser). */
  get handsOver(): boolean {
    return freeParser !== undefined;
  }

  /**
   * Detaches a stream's socket from its request and response; null if the client has gone or
   * the response does not hold the connection. Call it once the head has been flushed and
   * outside the request's own parsing (from a later tick), as Node does for an upgrade. Nothing
   * the client sends afterwards is read as a request.
   */
  takeOver(request: IncomingMessage, response: ServerResponse): Socket | null {
    const socket = request.socket;
    if (socket.destroyed) return null;
    // A response still queued behind another on its connection (pipelining) does not own the
    // socket: detaching it there fails an assertion inside Node, which ends the process.
    // oneRequestAtATime (below) never lets such a request reach a route; this is the last guard.
    if (response.socket !== socket) {
      socket.destroy();
      return null;
    }
    if (freeParser) {
      for (const event of socket.eventNames()) {
        for (const listener of socket.listeners(event) as Listener[]) if (!kept.has(listener)) socket.removeListener(event, listener);
      }
      response.detachSocket(socket);
      freeParser((socket as Socket & { parser?: unknown }).parser, request, socket);
      socket.setTimeout(0);
      // Whatever the client sends from now on is dropped; its FIN means it has left.
      socket.on('end', endOnFin);
      socket.resume();
    } else {
      this.attached++;
      // Still the HTTP server's: nothing more is parsed, or every request a client pipelined
      // behind the stream would wait in memory for a response that never comes.
      socket.pause();
    }
    socket.setKeepAlive(true, STREAM_KEEPALIVE_MS);
    // A reset connection ends this stream, never the process.
    socket.on('error', destroyOnError);
    this.open.add(socket);
    socket.on('close', () => this.open.delete(socket));
    return socket;
  }

  /** Cuts every stream still open (shutdown, after its grace period). */
  destroyAll(): void {
    for (const socket of this.open) socket.destroy();
  }
}

/**
 * The server's request listener, one request of a connection at a time. Node parses every
 * request a client pipelines in one segment before the first is answered, and runs each
 * one's handler at once, its response queued behind the one before. A request queued behind a
 * stream would then reach a route while the stream owns the connection. Here a request runs
 * only once its response holds the connection (Node assigns it when the response ahead ends):
 * pipelined snapshots and API calls are answered in order, and whatever follows a stream is
 * never run, since a stream never ends; it goes with its connection.
 */
export function oneRequestAtATime(
  handle: (request: IncomingMessage, response: ServerResponse) => void,
): (request: IncomingMessage, response: ServerResponse) => void {
  return (request, response) => {
    if (response.socket) handle(request, response);
    else response.once('socket', () => handle(request, response));
  };
}

function endOnFin(this: Socket): void {
  this.destroy();
}

function destroyOnError(this: Socket): void {
  this.destroy();
}
