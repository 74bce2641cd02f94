import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { Socket } from 'node:net';

type Listener = (...args: unknown[]) => void;

/**
 * Node's own parser release, the one its upgrade path (WebSocket, CONNECT) uses to hand a
 * connection over: unconsumes the socket, takes the parser off the server's connection list
 * (request and headers timeouts) and returns it to the pool. The same function on Node 20, 22
 * and 24; where a Node lacks it, streams stay with the HTTP server (more memory, same behaviour).
 */
const { freeParser } = createRequire(import.meta.url)('_http_common') as {
  freeParser?: (parser: unknown, request: IncomingMessage, socket: Socket) => void;
};

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
 * keeps its request, response, parser, Koa context and the listeners tying them together, about
 * 9 KB of heap a viewer (measured), where the socket alone is 1.5 KB.
 */
export class StreamSockets {
  private readonly open = new Set<Socket>();

  /**
   * Detaches a stream's socket from its request and response; null if the client has gone. Call
   * it once the head has been flushed and outside the request's own parsing (from a later tick),
   * as Node does for an upgrade. Nothing the client sends afterwards is read as a request.
   */
  takeOver(request: IncomingMessage, response: ServerResponse): Socket | null {
    const socket = request.socket;
    if (socket.destroyed) return null;
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
    }
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

function endOnFin(this: Socket): void {
  this.destroy();
}

function destroyOnError(this: Socket): void {
  this.destroy();
}
