// Fetch apps without the stream machinery in the common case. Measured on this project's hello
// world (bench/hello), the native conversion cost ~24 µs of CPU per request: `new Request` with a
// signal (a follower AbortSignal and a FinalizationRegistry entry), a Headers object filled from
// the raw headers, the app's `new Response(string)` building a ReadableStream, and reading that
// stream back. Most apps read the method, URL and a header or two, and answer with a string or
// bytes. So, in a worker with --fast-fetch (the default, as @hono/node-server does by default):
//
// - The app gets an IncomingRequest: method, url, headers (built on first use) and signal are its
//   own; everything else (body, json(), clone(), …) builds the native Request once and delegates.
//   `instanceof Request` holds, and `new Request(r)` / `fetch(r)` unwrap it, because the globals
//   Request and fetch are replaced by thin versions that do that.
// - The global Response is replaced by a class whose instances keep a string/bytes/empty body and
//   a plain init as given; the writer sends them with one `res.end()`. Reading anything the simple
//   form cannot answer (headers, body, text(), clone(), …) builds the native Response once and
//   delegates from then on, so a middleware that edits `res.headers` still works. Everything else
//   (streams, FormData, Blob, …) is a native Response at once, as before.
//
// `instanceof` works both ways: native and lightweight objects are instances of the globals.

import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { inspect } from 'node:util';

type BodyInit = ConstructorParameters<typeof Response>[0];
type RequestInfo = ConstructorParameters<typeof Request>[0];

const NativeRequest = globalThis.Request;
const NativeResponse = globalThis.Response;
const nativeFetch = globalThis.fetch;
const isPrototypeOf = Function.prototype.call.bind(Object.prototype.isPrototypeOf) as (proto: object, value: unknown) => boolean;

/** Returns the native object behind a lightweight one (building it on first use). */
const toNative = Symbol('ballast.toNative');

interface HasNative<T> {
  [toNative](): T;
}

/** Every accessor and method of `native.prototype` that `target` does not define itself, delegated. */
function delegateTheRest(target: object, nativeProto: object): void {
  for (const key of Reflect.ownKeys(nativeProto)) {
    if (key === 'constructor' || key === Symbol.toStringTag || Object.prototype.hasOwnProperty.call(target, key)) continue;
    const descriptor = Object.getOwnPropertyDescriptor(nativeProto, key)!;
    if (descriptor.get) {
      const get = descriptor.get;
      Object.defineProperty(target, key, { configurable: true, enumerable: descriptor.enumerable, get(this: HasNative<object>) { return get.call(this[toNative]()); } });
    } else if (typeof descriptor.value === 'function') {
      const method = descriptor.value as (...args: unknown[]) => unknown;
      Object.defineProperty(target, key, { configurable: true, writable: true, enumerable: descriptor.enumerable, value(this: HasNative<object>, ...args: unknown[]) { return method.apply(this[toNative](), args); } });
    }
  }
  Object.defineProperty(target, inspect.custom, {
    configurable: true,
    value(this: HasNative<object>, depth: number, options: object) { return inspect(this[toNative](), { ...options, depth }); },
  });
  Object.setPrototypeOf(target, nativeProto);
}

/** The request's headers as a Fetch Headers object, in the order the client sent them. */
export function headersFromRaw(raw: string[]): Headers {
  const headers = new Headers();
  for (let i = 0; i < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  return headers;
}

/** The absolute URL a Fetch app sees for a Node request. */
export function incomingUrl(req: IncomingMessage, defaultHost: string): string {
  return `http://${req.headers.host ?? defaultHost}${req.url ?? '/'}`;
}

/** The native Request for a Node request; a body (not for GET/HEAD) streams from the socket. */
export function nativeRequestFrom(req: IncomingMessage, url: string, headers: Headers, signal: AbortSignal): Request {
  const method = req.method ?? 'GET';
  const init: RequestInit & { duplex?: 'half' } = { method, headers, signal };
  if (method !== 'GET' && method !== 'HEAD') {
    init.body = Readable.toWeb(req) as unknown as ReadableStream<Uint8Array>;
    init.duplex = 'half';
  }
  return new NativeRequest(url, init);
}

/** The request a Fetch app receives from the process-class worker. */
export class IncomingRequest implements HasNative<Request> {
  readonly #req: IncomingMessage;
  readonly #defaultHost: string;
  readonly #signal: AbortSignal;
  #url: string | undefined;
  #headers: Headers | undefined;
  #native: Request | undefined;

  constructor(req: IncomingMessage, signal: AbortSignal, defaultHost: string) {
    this.#req = req;
    this.#signal = signal;
    this.#defaultHost = defaultHost;
  }

  get method(): string { return this.#req.method ?? 'GET'; }
  get url(): string { return (this.#url ??= incomingUrl(this.#req, this.#defaultHost)); }
  /** The same Headers object before and after the native Request is built. */
  get headers(): Headers { return (this.#headers ??= headersFromRaw(this.#req.rawHeaders)); }
  get signal(): AbortSignal { return this.#signal; }

  [toNative](): Request {
    return (this.#native ??= nativeRequestFrom(this.#req, this.url, this.headers, this.#signal));
  }
}
delegateTheRest(IncomingRequest.prototype, NativeRequest.prototype);

type SimpleBody = string | Uint8Array | null;
type SimpleHeaders = Record<string, string> | Array<[string, string]> | Headers | undefined;

/** What the writer needs of a lightweight Response that was never turned native. */
export interface SimpleResponse {
  status: number;
  statusText: string;
  headers: SimpleHeaders;
  body: SimpleBody;
}

const nullBodyStatuses = new Set([101, 103, 204, 205, 304]);
const reasonPhrase = /^[\t\x20-\x7e\x80-\xff]*$/;

function isSimpleHeaders(headers: unknown): headers is SimpleHeaders {
  if (headers === undefined || headers instanceof Headers || Array.isArray(headers)) return true;
  if (headers === null || typeof headers !== 'object') return false;
  const proto = Object.getPrototypeOf(headers) as unknown;
  return proto === Object.prototype || proto === null;
}

class LightResponse implements HasNative<Response> {
  #status = 200;
  #statusText = '';
  #headers: SimpleHeaders;
  #body: SimpleBody = null;
  #init: ResponseInit | undefined;
  #native: Response | undefined;

  constructor(body?: BodyInit | null, init?: ResponseInit) {
    const simpleBody = body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array;
    const status = init?.status;
    const statusText = init?.statusText;
    const simpleInit = init === undefined || (
      typeof init === 'object' && init !== null
      && (status === undefined || (Number.isInteger(status) && status >= 200 && status <= 599 && !(nullBodyStatuses.has(status) && body != null)))
      && (statusText === undefined || (typeof statusText === 'string' && reasonPhrase.test(statusText)))
      && isSimpleHeaders(init.headers)
    );
    if (!simpleBody || !simpleInit) {
      // Anything else, and every invalid input, is the native constructor's to take (or refuse).
      this.#native = new NativeResponse(body, init);
      return;
    }
    this.#body = (body ?? null) as SimpleBody;
    this.#init = init;
    if (init) {
      this.#status = status ?? 200;
      this.#statusText = statusText ?? '';
      this.#headers = init.headers as SimpleHeaders;
    }
  }

  get status(): number { return this.#native ? this.#native.status : this.#status; }
  get statusText(): string { return this.#native ? this.#native.statusText : this.#statusText; }
  get ok(): boolean { const status = this.status; return status >= 200 && status <= 299; }

  [toNative](): Response {
    return (this.#native ??= new NativeResponse(this.#body, this.#init));
  }

  /** The parts as given, or undefined once the native Response exists (it may have been edited). */
  simple(): SimpleResponse | undefined {
    if (this.#native) return undefined;
    return { status: this.#status, statusText: this.#statusText, headers: this.#headers, body: this.#body };
  }

  static [Symbol.hasInstance](value: unknown): boolean {
    return isPrototypeOf(NativeResponse.prototype, value);
  }
}
delegateTheRest(LightResponse.prototype, NativeResponse.prototype);
// Response.json(), Response.redirect(), Response.error() stay the native statics.
Object.setPrototypeOf(LightResponse, NativeResponse);

function unwrap(input: unknown): unknown {
  return input instanceof IncomingRequest ? input[toNative]() : input;
}

/** The global Request: the native class, except that it accepts an IncomingRequest as input. */
class UnwrappingRequest extends NativeRequest {
  constructor(input: RequestInfo, init?: RequestInit) {
    super(unwrap(input) as RequestInfo, init);
  }

  static [Symbol.hasInstance](value: unknown): boolean {
    return isPrototypeOf(NativeRequest.prototype, value);
  }
}

let installed = false;

/** Replaces the globals Request, Response and fetch in this worker. Idempotent. */
export function installFastFetch(): void {
  if (installed) return;
  installed = true;
  const define = (name: string, value: unknown) => Object.defineProperty(globalThis, name, { configurable: true, writable: true, enumerable: false, value });
  define('Response', LightResponse);
  define('Request', UnwrappingRequest);
  define('fetch', function fetch(input: RequestInfo, init?: RequestInit) {
    return nativeFetch(unwrap(input) as RequestInfo, init);
  });
}

export function fastFetchInstalled(): boolean {
  return installed;
}

/** The simple parts of a lightweight Response, or undefined for a native (or turned native) one. */
export function simpleResponse(response: Response): SimpleResponse | undefined {
  return isPrototypeOf(LightResponse.prototype, response) ? (response as unknown as LightResponse).simple() : undefined;
}
