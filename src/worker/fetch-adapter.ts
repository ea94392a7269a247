// Node request → Fetch Request, Fetch Response → Node response. The conversion sits on every
// request of a Fetch app, so it avoids work it can skip: no body stream for GET/HEAD, headers
// built once from rawHeaders, string and byte bodies of lightweight Responses (fetch-fast.ts)
// written in one call, streamed bodies written with back-pressure and cancelled when the client leaves.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ReadableStreamReadResult } from 'node:stream/web';
import { fastFetchInstalled, headersFromRaw, IncomingRequest, incomingUrl, nativeRequestFrom, simpleResponse, type SimpleResponse } from './fetch-fast.ts';

export function toFetchRequest(req: IncomingMessage, signal: AbortSignal, defaultHost: string): Request {
  if (fastFetchInstalled()) return new IncomingRequest(req, signal, defaultHost) as unknown as Request;
  return nativeRequestFrom(req, incomingUrl(req, defaultHost), headersFromRaw(req.rawHeaders), signal);
}

/** Fetch Headers as writeHead's object: one entry per name, Set-Cookie kept as a list. */
function headersRecord(given: Headers): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of given) if (name !== 'set-cookie') headers[name] = value;
  const cookies = given.getSetCookie();
  if (cookies.length > 0) headers['set-cookie'] = cookies;
  return headers;
}

function setHeaders(res: ServerResponse, response: Response, contentLength?: number): void {
  const headers = headersRecord(response.headers);
  if (contentLength !== undefined && headers['content-length'] === undefined && headers['transfer-encoding'] === undefined) {
    headers['content-length'] = String(contentLength);
  }
  res.writeHead(response.status, response.statusText || undefined, headers);
}

function waitForDrainOrClose(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

type Chunk = ReadableStreamReadResult<Uint8Array>;

/**
 * Settles `read` if it is already available: a body built from a string or bytes resolves
 * within a microtask or two, a stream still being produced (SSE) does not. Returns undefined
 * when the chunk is not ready yet.
 */
async function readIfReady(read: Promise<Chunk>): Promise<Chunk | undefined> {
  let result: Chunk | undefined;
  let failure: unknown;
  read.then((value) => { result = value; }, (error: unknown) => { failure = error ?? new Error('body stream failed'); });
  for (let hop = 0; hop < 4 && result === undefined && failure === undefined; hop++) await null;
  if (failure !== undefined) throw failure;
  return result;
}

const httpWhitespaceAtEnds = /^[\t\n\r ]|[\t\n\r ]$/;
const httpWhitespace = /^[\t\n\r ]+|[\t\n\r ]+$/g;

/** A lightweight Response as given: one writeHead and one end, with what Headers would have done. */
function writeSimpleResponse(res: ServerResponse, parts: SimpleResponse, isHead: boolean): void {
  const given = parts.headers;
  // A Headers object has already normalised and combined its values.
  if (given instanceof Headers) return writeSimpleBody(res, parts, headersRecord(given), isHead);
  const headers: Record<string, string | string[]> = {};
  const add = (name: string, raw: unknown) => {
    let value = String(raw);
    if (httpWhitespaceAtEnds.test(value)) value = value.replace(httpWhitespace, '');
    const key = name.toLowerCase();
    const existing = headers[key];
    if (key === 'set-cookie') {
      if (existing === undefined) headers[key] = [value];
      else (existing as string[]).push(value);
    } else {
      headers[key] = existing === undefined ? value : `${existing as string}, ${value}`;
    }
  };
  if (Array.isArray(given)) {
    for (const pair of given) {
      if (!Array.isArray(pair) || pair.length !== 2) throw new TypeError('Response headers: each entry of a header list must be a [name, value] pair');
      add(pair[0], pair[1]);
    }
  } else if (given !== undefined) {
    for (const name in given) add(name, given[name]);
  }
  return writeSimpleBody(res, parts, headers, isHead);
}

function writeSimpleBody(res: ServerResponse, parts: SimpleResponse, headers: Record<string, string | string[]>, isHead: boolean): void {
  const body = parts.body;
  // As the Response constructor does: a string body is text/plain unless the app said otherwise.
  if (typeof body === 'string' && headers['content-type'] === undefined) headers['content-type'] = 'text/plain;charset=UTF-8';
  if (headers['content-length'] === undefined && headers['transfer-encoding'] === undefined) {
    headers['content-length'] = String(body === null ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength);
  }
  res.writeHead(parts.status, parts.statusText || undefined, headers);
  if (isHead || body === null) res.end();
  else res.end(body);
}

/** Writes a Fetch Response to a Node response; resolves when the body is written or abandoned. */
export async function writeFetchResponse(res: ServerResponse, response: Response, isHead: boolean): Promise<void> {
  const simple = simpleResponse(response);
  if (simple) {
    writeSimpleResponse(res, simple, isHead);
    return;
  }
  const body = response.body;
  if (body === null || isHead) {
    if (body && isHead) await body.cancel().catch(() => {});
    setHeaders(res, response, isHead ? undefined : 0);
    res.end();
    return;
  }
  const reader = body.getReader();
  try {
    // A body that is complete at once (the common case: text, JSON, bytes) goes out in one
    // write with Content-Length. A body still being produced gets its head sent now, chunked,
    // so streaming responses (SSE) are not held back waiting for their first event.
    let pending: Promise<Chunk> | undefined = reader.read();
    const first = await readIfReady(pending);
    if (first !== undefined) {
      if (first.done) {
        setHeaders(res, response, 0);
        res.end();
        return;
      }
      pending = reader.read();
      const second = await readIfReady(pending);
      if (second?.done) {
        setHeaders(res, response, first.value.byteLength);
        res.end(first.value);
        return;
      }
      setHeaders(res, response);
      if (!res.write(first.value)) await waitForDrainOrClose(res);
      if (second !== undefined) {
        pending = undefined;
        if (!res.write(second.value)) await waitForDrainOrClose(res);
      }
    } else {
      setHeaders(res, response);
      res.flushHeaders();
    }
    for (;;) {
      const { done, value } = await (pending ?? reader.read());
      pending = undefined;
      if (done) break;
      if (res.destroyed) {
        await reader.cancel().catch(() => {});
        return;
      }
      if (!res.write(value)) await waitForDrainOrClose(res);
    }
    res.end();
  } catch (error) {
    // The body stream failed mid-way: if the head is out, the only honest signal left is to
    // cut the connection rather than end a truncated body as if it were complete.
    if (res.headersSent) res.destroy(error as Error);
    throw error;
  } finally {
    reader.releaseLock();
  }
}
