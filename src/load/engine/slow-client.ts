// Slow clients on raw sockets: the request head dribbled out over --slow-headers (slowloris), the
// body paced at --slow-upload bytes/s, the response read at --slow-read bytes/s. Reading slowly
// is done with a small fixed read buffer (`onread`) and pauses, so unread bytes stay in the
// kernel, the TCP window closes and the server's writes see real back-pressure. Each slow request
// uses its own connection (`connection: close`), like the slow clients it imitates; the response
// ends when the server closes. The executors see the same handler protocol as for undici.

import * as net from 'node:net';
import * as tls from 'node:tls';
import type { SlowSpec } from '../types.ts';
import type { PreparedRequest, RequestHandler } from './transport.ts';

const tickMs = 100;

function codedError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

export function sendSlowRequest(request: PreparedRequest, slow: SlowSpec, idleTimeoutMs: number, handler: RequestHandler, sockets: Set<net.Socket>): void {
  const url = new URL(request.spec.url);
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const readBps = slow.readBytesPerSecond;
  const readBuffer = Buffer.allocUnsafe(readBps > 0 ? Math.min(65_536, Math.max(512, Math.floor(readBps / 10))) : 65_536);
  let finished = false;
  let isHeadDone = false;
  let head = Buffer.alloc(0);
  let readBytes = 0;
  let readStartedMs = 0;
  const timers = new Set<NodeJS.Timeout>();
  const later = (fn: () => void, ms: number) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timers.add(timer);
  };

  const finish = (error?: Error) => {
    if (finished) return;
    finished = true;
    for (const timer of timers) clearTimeout(timer);
    sockets.delete(socket);
    socket.destroy();
    if (error) handler.onError(error);
    else handler.onComplete(null);
  };

  const onChunk = (chunk: Buffer) => {
    if (finished) return;
    if (!isHeadDone) {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      isHeadDone = true;
      const status = Number(/^HTTP\/\d(?:\.\d)? (\d{3})/.exec(head.subarray(0, Math.min(end, 64)).toString('latin1'))?.[1] ?? 0);
      if (status === 0) return finish(codedError('malformed response status line', 'UND_ERR_INVALID_RESPONSE'));
      handler.onHeaders(status, [], () => undefined, '');
      const rest = head.subarray(end + 4);
      if (rest.length > 0) handler.onData(rest);
    } else {
      handler.onData(chunk);
    }
    if (readBps > 0) {
      if (readStartedMs === 0) readStartedMs = performance.now();
      readBytes += chunk.length;
      // Token bucket: the next read may start when the bytes so far are "paid for".
      const dueMs = readStartedMs + (readBytes / readBps) * 1000;
      const waitMs = dueMs - performance.now();
      if (waitMs > 1) {
        socket.pause();
        later(() => socket.resume(), waitMs);
      }
    }
  };

  const socket: net.Socket = url.protocol === 'https:'
    ? tls.connect({ host, port, servername: host, rejectUnauthorized: false })
    : net.connect({
      host,
      port,
      // Copy out of the fixed buffer: handlers may keep the chunk.
      onread: { buffer: readBuffer, callback: (length: number, buffer: Uint8Array) => { onChunk(Buffer.from(buffer.subarray(0, length))); return true; } },
    });
  if (url.protocol === 'https:') socket.on('data', onChunk);
  sockets.add(socket);
  socket.setNoDelay(true);
  socket.setTimeout(idleTimeoutMs, () => finish(codedError(`no progress for ${idleTimeoutMs} ms`, 'ETIMEDOUT')));
  socket.on('error', (error) => finish(error));
  socket.on('end', () => finish(isHeadDone ? undefined : codedError('connection closed before a response', 'UND_ERR_SOCKET')));
  socket.on('close', () => finish(isHeadDone ? undefined : codedError('connection closed before a response', 'UND_ERR_SOCKET')));

  socket.on(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
    handler.onConnect((error?: Error) => finish(error ?? codedError('aborted', 'UND_ERR_ABORTED')));
    const lines = [`${request.spec.method} ${request.spec.path} HTTP/1.1`, `host: ${url.host}`];
    const headers = request.spec.headers;
    for (let i = 0; i < headers.length; i += 2) lines.push(`${headers[i]}: ${headers[i + 1]}`);
    const body = request.body;
    if (body) lines.push(`content-length: ${body.length}`);
    lines.push('connection: close', '', '');
    const headBytes = Buffer.from(lines.join('\r\n'), 'latin1');
    writePaced(headBytes, slow.headersMs > 0 ? Math.max(1, Math.ceil(headBytes.length / Math.max(1, Math.floor(slow.headersMs / tickMs)))) : headBytes.length, () => {
      if (!body) return;
      const perTick = slow.uploadBytesPerSecond > 0 ? Math.max(1, Math.floor((slow.uploadBytesPerSecond * tickMs) / 1000)) : body.length;
      writePaced(body, perTick, () => undefined);
    });
  });

  /** Writes `bytes` in pieces of `perTick`, one every tick, then calls `done`. */
  function writePaced(bytes: Buffer, perTick: number, done: () => void): void {
    let offset = 0;
    const step = () => {
      if (finished) return;
      const piece = bytes.subarray(offset, offset + perTick);
      offset += piece.length;
      socket.write(piece);
      if (offset >= bytes.length) done();
      else later(step, tickMs);
    };
    step();
  }
}
