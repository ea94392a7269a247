// Runs a Node listener (Express, Koa's callback()) inside a handler thread with Node's own HTTP
// machinery on both sides: each request gets an in-memory socket pair; one end goes to a
// never-listening http.Server that calls the app, the other to an http.ClientRequest that writes
// the request as HTTP/1.1 and parses the app's response. So the app sees a real IncomingMessage
// and ServerResponse (chunked bodies, Expect, HEAD, trailers and all) and we never re-implement
// HTTP framing. The cost is one serialise/parse round per request inside the thread, which is
// off the main thread, where the sockets are.

import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { duplexPair, Readable, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { NodeListener } from '../app-loader.ts';
import type { FlatHeaders } from './protocol.ts';

export interface NodeBridgeRequest {
  method: string;
  url: string;
  headers: FlatHeaders;
  body: ReadableStream<Uint8Array> | undefined;
  /** Called when the listener throws or rejects: the request fails as it would in the process class. */
  onAppError(error: unknown): void;
}

export interface NodeBridgeResponse {
  status: number;
  statusText: string;
  headers: FlatHeaders;
  body: AsyncIterator<Uint8Array>;
}

export interface NodeBridgeCall {
  response: Promise<NodeBridgeResponse>;
  /** The client went away or the deadline passed: the app sees its request close. */
  abort(): void;
  /** The response was read to its end: let the in-memory connection close. */
  finish(): void;
}

// Connection-level headers belong to the outer connection, not to this in-memory hop.
const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'upgrade', 'transfer-encoding', 'te', 'trailer']);
const hopByHopRequest = new Set(['connection', 'keep-alive', 'proxy-connection', 'upgrade']);

/** Generous: the outer server already enforced its header limits on the request. */
const innerMaxHeaderBytes = 1024 * 1024;

export function createNodeBridge(listener: NodeListener): (request: NodeBridgeRequest) => NodeBridgeCall {
  const onError = new WeakMap<Duplex, (error: unknown) => void>();

  function report(req: IncomingMessage, error: unknown): void {
    onError.get(req.socket as unknown as Duplex)?.(error);
  }

  // A listener that throws must fail its request, not take the whole thread down.
  const server = http.createServer({ maxHeaderSize: innerMaxHeaderBytes, requireHostHeader: false, keepAliveTimeout: 0 }, (req: IncomingMessage, res: ServerResponse) => {
    try {
      const result = listener(req, res) as Promise<unknown> | undefined;
      if (result && typeof result.then === 'function') result.then(undefined, (error: unknown) => report(req, error));
    } catch (error) {
      report(req, error);
    }
  });

  return function call(request) {
    const [serverSide, clientSide] = duplexPair();
    // http.Server ends its side once more when the client's side ends after `Connection: close`
    // (a real socket is no longer writable by then; an in-memory one is): that second end()
    // would build an ERR_STREAM_ALREADY_FINISHED error, stack trace and all, on every request.
    const endOnce = serverSide.end;
    serverSide.end = function end(this: Duplex, ...args: unknown[]) {
      return this.writableEnded ? this : (endOnce as (...a: unknown[]) => Duplex).apply(this, args);
    } as Duplex['end'];
    onError.set(serverSide, request.onAppError);
    server.emit('connection', serverSide);

    const headers: FlatHeaders = [];
    for (let i = 0; i < request.headers.length; i += 2) {
      if (!hopByHopRequest.has(request.headers[i]!.toLowerCase())) headers.push(request.headers[i]!, request.headers[i + 1]!);
    }
    // One request per in-memory connection: the server closes its side after the response, so
    // the pair winds down on its own (destroying it under a finished exchange costs an error
    // object per request in Node's socket end handling).
    headers.push('connection', 'close');
    const target = new URL(request.url);
    const clientRequest = http.request({
      createConnection: () => clientSide as unknown as import('node:net').Socket,
      method: request.method,
      path: target.pathname + target.search,
      headers,
      setHost: false,
      maxHeaderSize: innerMaxHeaderBytes,
    });

    const response = new Promise<NodeBridgeResponse>((resolve, reject) => {
      clientRequest.once('error', reject);
      clientRequest.once('response', (incoming: IncomingMessage) => {
        clientRequest.off('error', reject);
        // Errors after the head surface through the body iterator.
        clientRequest.on('error', () => {});
        const raw = incoming.rawHeaders;
        const responseHeaders: FlatHeaders = [];
        for (let i = 0; i < raw.length; i += 2) {
          if (!hopByHop.has(raw[i]!.toLowerCase())) responseHeaders.push(raw[i]!, raw[i + 1]!);
        }
        resolve({
          status: incoming.statusCode ?? 500,
          statusText: incoming.statusMessage ?? '',
          headers: responseHeaders,
          body: incoming[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>,
        });
      });
    });

    if (request.body) {
      pipeline(Readable.fromWeb(request.body as import('node:stream/web').ReadableStream<Uint8Array>), clientRequest).catch((error: unknown) => {
        clientRequest.destroy(error as Error);
      });
    } else {
      clientRequest.end();
    }

    function abort(): void {
      clientRequest.destroy();
      clientSide.destroy();
      serverSide.destroy();
    }
    function finish(): void {
      if (!clientSide.destroyed) clientSide.end();
    }
    return { response, abort, finish };
  };
}
