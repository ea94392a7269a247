// An incremental HTTP/1.x response parser for the raw transport (raw-pool.ts). It reads only what
// a load generator needs: the status, the framing (Content-Length, chunked transfer-encoding, or
// until the connection closes; none for HEAD, 1xx, 204 and 304) and whether the connection may be
// reused (`Connection: close`, HTTP/1.0, the `Keep-Alive: timeout=N` hint). It scans bytes in
// place and allocates nothing for a response that arrives whole; a line split across reads is
// copied into a small pending buffer. Header values it does not need are never decoded, and body
// bytes are skipped, not copied. Anything malformed (a bad status line, a bad or conflicting
// Content-Length, a bad chunk size, an over-long head) throws a BALLAST_ERR_LOAD_RESPONSE error;
// the caller fails the request and drops the connection, as undici does with llhttp's errors.

import { createError } from '../../errors.ts';

/** Head (status line + fields) and trailer size limits, in bytes: what undici allows by default is larger, but no sane hello world comes near. */
export const maxHeadBytes = 64 * 1024;
const maxChunkLineBytes = 4 * 1024;
/** 13 hex digits (2^52) keep a chunk size an exact JavaScript integer. */
const maxChunkSizeDigits = 13;
/** 15 decimal digits keep a Content-Length an exact JavaScript integer. */
const maxLengthDigits = 15;

const stateIdle = 0;
const stateStatus = 1;
const stateHeader = 2;
const stateBodyLength = 3;
const stateChunkSize = 4;
const stateChunkData = 5;
const stateChunkDataEnd = 6;
const stateTrailer = 7;
const stateBodyUntilClose = 8;
const stateDone = 9;

const LF = 10;
const CR = 13;
const SP = 32;
const HTAB = 9;

const nameContentLength = Buffer.from('content-length');
const nameTransferEncoding = Buffer.from('transfer-encoding');
const nameConnection = Buffer.from('connection');
const nameKeepAlive = Buffer.from('keep-alive');
const tokenChunked = Buffer.from('chunked');
const tokenClose = Buffer.from('close');
const tokenKeepAlive = nameKeepAlive;
const paramTimeout = Buffer.from('timeout=');

function malformed(message: string): Error {
  return createError('BALLAST_ERR_LOAD_RESPONSE', `malformed HTTP response: ${message}`);
}

/** `buf[start, end)` equals `lower` (lowercase ASCII), ignoring the case of letters. */
function equalsIgnoringCase(buf: Uint8Array, start: number, end: number, lower: Uint8Array): boolean {
  if (end - start !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    const c = buf[start + i];
    const e = lower[i];
    if (c !== e && !(e >= 97 && e <= 122 && c === e - 32)) return false;
  }
  return true;
}

function isOws(c: number): boolean {
  return c === SP || c === HTAB;
}

/** Calls `visit(start, end)` for each comma-separated, OWS-trimmed, non-empty element of a field value. */
function forEachElement(buf: Uint8Array, start: number, end: number, visit: (from: number, to: number) => void): void {
  let from = start;
  while (from <= end) {
    let to = from;
    while (to < end && buf[to] !== 44) to++;
    let a = from;
    let b = to;
    while (a < b && isOws(buf[a])) a++;
    while (b > a && isOws(buf[b - 1])) b--;
    if (b > a) visit(a, b);
    from = to + 1;
  }
}

/** What the parser reports while it runs; the raw pool's connection implements it. */
export interface ResponseSink {
  /** The final (non-1xx) response's head is complete. */
  onResponseHead(status: number): void;
}

export class ResponseParser {
  /** Status of the current (or last) final response; 0 until its head is complete. */
  status = 0;
  /** Whether the connection may carry another request once this response is complete. */
  shouldKeepAlive = true;
  /** The server's `Keep-Alive: timeout=N` hint in ms, or -1 when it gave none. */
  keepAliveTimeoutMs = -1;
  /** Whether any byte of the current response has been seen. */
  hasBytes = false;
  #sink: ResponseSink;
  #state = stateIdle;
  #isHeadRequest = false;
  #pending: Buffer | null = null;
  #headBytes = 0;
  #remaining = 0;
  #minor = 1;
  #contentLength = -1;
  #hasTransferEncoding = false;
  #isChunked = false;
  #wantsClose = false;
  #wantsKeepAlive = false;
  /** The last field was a framing field, so an obs-fold continuation of it would be ambiguous. */
  #lastFieldIsFraming = false;
  #timeoutVisitor = (from: number, to: number) => this.#readTimeoutParameter(from, to);
  #connectionVisitor = (from: number, to: number) => this.#readConnectionToken(from, to);
  #buf: Uint8Array = new Uint8Array(0);

  constructor(sink: ResponseSink) {
    this.#sink = sink;
  }

  /** Expect a new response, to a request with method HEAD when `isHeadRequest` (no body then). */
  start(isHeadRequest: boolean): void {
    this.#isHeadRequest = isHeadRequest;
    this.#state = stateStatus;
    this.#pending = null;
    this.status = 0;
    this.shouldKeepAlive = true;
    this.hasBytes = false;
    this.#resetHead();
  }

  #resetHead(): void {
    this.#headBytes = 0;
    this.#contentLength = -1;
    this.#hasTransferEncoding = false;
    this.#isChunked = false;
    this.#wantsClose = false;
    this.#wantsKeepAlive = false;
    this.#lastFieldIsFraming = false;
  }

  /** The response started by start() is complete. */
  get isComplete(): boolean {
    return this.#state === stateDone;
  }

  /** Whether a response is expected or under way (bytes now belong to it). */
  get isActive(): boolean {
    return this.#state !== stateIdle && this.#state !== stateDone;
  }

  /**
   * Parses `data[start, end)`. Returns the offset where parsing stopped: `end`, or the first byte
   * after the response when it completed (the caller decides what bytes beyond it mean). Throws a
   * BALLAST_ERR_LOAD_RESPONSE error on malformed input.
   */
  execute(data: Uint8Array, start: number, end: number): number {
    if (start < end) this.hasBytes = true;
    let offset = start;
    while (offset < end) {
      const state = this.#state;
      if (state === stateBodyLength || state === stateChunkData) {
        const available = end - offset;
        if (available < this.#remaining) {
          this.#remaining -= available;
          return end;
        }
        offset += this.#remaining;
        this.#remaining = 0;
        if (state === stateBodyLength) {
          this.#state = stateDone;
          return offset;
        }
        this.#state = stateChunkDataEnd;
        continue;
      }
      if (state === stateBodyUntilClose) return end;
      if (state === stateIdle || state === stateDone) throw malformed('bytes received while no response was expected');
      // Line-oriented states: status, fields, chunk size, chunk end, trailers.
      const newline = indexOfLf(data, offset, end);
      const limit = state === stateChunkSize || state === stateChunkDataEnd ? maxChunkLineBytes : maxHeadBytes - this.#headBytes;
      if (newline === -1) {
        const pendingLength = (this.#pending?.length ?? 0) + (end - offset);
        if (pendingLength > limit) throw malformed(state === stateChunkSize || state === stateChunkDataEnd ? 'chunk size line too long' : 'head too large');
        const piece = Buffer.from(data.subarray(offset, end));
        this.#pending = this.#pending === null ? piece : Buffer.concat([this.#pending, piece]);
        return end;
      }
      let buf: Uint8Array = data;
      let lineStart = offset;
      let lineEnd = newline;
      if (this.#pending !== null) {
        buf = Buffer.concat([this.#pending, data.subarray(offset, newline)]);
        this.#pending = null;
        lineStart = 0;
        lineEnd = buf.length;
      }
      const lineBytes = lineEnd - lineStart + 1;
      if (lineBytes > limit) throw malformed(state === stateChunkSize || state === stateChunkDataEnd ? 'chunk size line too long' : 'head too large');
      if (lineEnd > lineStart && buf[lineEnd - 1] === CR) lineEnd--;
      offset = newline + 1;
      this.#buf = buf;
      if (state === stateStatus) {
        this.#headBytes += lineBytes;
        // Tolerate empty lines before a status line (RFC 9112 §2.2 allows it before a request line).
        if (lineEnd > lineStart) this.#readStatusLine(buf, lineStart, lineEnd);
      } else if (state === stateHeader) {
        this.#headBytes += lineBytes;
        if (lineEnd === lineStart) {
          if (this.#endOfHead()) return offset;
        } else {
          this.#readField(buf, lineStart, lineEnd);
        }
      } else if (state === stateChunkSize) {
        this.#readChunkSize(buf, lineStart, lineEnd);
      } else if (state === stateChunkDataEnd) {
        if (lineEnd !== lineStart) throw malformed('chunk data not followed by CRLF');
        this.#state = stateChunkSize;
      } else {
        // Trailers: fields after the last chunk, counted against the head limit and skipped.
        this.#headBytes += lineBytes;
        if (lineEnd === lineStart) {
          this.#state = stateDone;
          return offset;
        }
        if (!isOws(buf[lineStart]) && !hasColon(buf, lineStart, lineEnd)) throw malformed('trailer field without a colon');
      }
    }
    return offset;
  }

  /**
   * The connection ended. Returns true when that completed the response (a body delimited by the
   * close), false when a response was under way and is now cut short.
   */
  finish(): boolean {
    if (this.#state === stateBodyUntilClose) {
      this.#state = stateDone;
      return true;
    }
    return !this.isActive;
  }

  #readStatusLine(buf: Uint8Array, start: number, end: number): void {
    // HTTP/1.x SSS[ reason]
    if (
      end - start < 12 || buf[start] !== 72 || buf[start + 1] !== 84 || buf[start + 2] !== 84 || buf[start + 3] !== 80 ||
      buf[start + 4] !== 47 || buf[start + 5] !== 49 || buf[start + 6] !== 46 || !isDigit(buf[start + 7]) || buf[start + 8] !== SP ||
      !isDigit(buf[start + 9]) || !isDigit(buf[start + 10]) || !isDigit(buf[start + 11]) || (end - start > 12 && buf[start + 12] !== SP)
    ) {
      throw malformed(`bad status line \`${Buffer.from(buf.subarray(start, Math.min(end, start + 64))).toString('latin1')}\``);
    }
    const status = (buf[start + 9] - 48) * 100 + (buf[start + 10] - 48) * 10 + (buf[start + 11] - 48);
    if (status < 100) throw malformed(`status ${status} out of range`);
    this.#minor = buf[start + 7] - 48;
    this.status = status;
    this.#state = stateHeader;
  }

  #readField(buf: Uint8Array, start: number, end: number): void {
    if (isOws(buf[start])) {
      // obs-fold: a continuation of the previous field's value. Harmless unless it continues a
      // field that decides the framing, where it would be ambiguous (request smuggling territory).
      if (this.#lastFieldIsFraming) throw malformed('obs-fold in a framing header');
      return;
    }
    let colon = start;
    while (colon < end && buf[colon] !== 58) colon++;
    if (colon === end || colon === start) throw malformed('header field without a name and a colon');
    if (isOws(buf[colon - 1])) throw malformed('whitespace before the colon of a header field');
    let valueStart = colon + 1;
    let valueEnd = end;
    while (valueStart < valueEnd && isOws(buf[valueStart])) valueStart++;
    while (valueEnd > valueStart && isOws(buf[valueEnd - 1])) valueEnd--;
    const nameLength = colon - start;
    this.#lastFieldIsFraming = false;
    if (nameLength === 14 && equalsIgnoringCase(buf, start, colon, nameContentLength)) {
      this.#lastFieldIsFraming = true;
      const length = parseDecimal(buf, valueStart, valueEnd);
      if (length < 0) throw malformed('bad Content-Length');
      if (this.#contentLength >= 0 && this.#contentLength !== length) throw malformed('conflicting Content-Length values');
      this.#contentLength = length;
    } else if (nameLength === 17 && equalsIgnoringCase(buf, start, colon, nameTransferEncoding)) {
      this.#lastFieldIsFraming = true;
      this.#hasTransferEncoding = true;
      // Only the final coding decides: `gzip, chunked` is chunked, `chunked, gzip` is not.
      let last = valueEnd;
      while (last > valueStart && buf[last - 1] !== 44) last--;
      while (last < valueEnd && isOws(buf[last])) last++;
      this.#isChunked = equalsIgnoringCase(buf, last, valueEnd, tokenChunked);
    } else if (nameLength === 10 && equalsIgnoringCase(buf, start, colon, nameConnection)) {
      forEachElement(buf, valueStart, valueEnd, this.#connectionVisitor);
    } else if (nameLength === 10 && equalsIgnoringCase(buf, start, colon, nameKeepAlive)) {
      forEachElement(buf, valueStart, valueEnd, this.#timeoutVisitor);
    }
  }

  #readConnectionToken(from: number, to: number): void {
    const buf = this.#buf;
    if (equalsIgnoringCase(buf, from, to, tokenClose)) this.#wantsClose = true;
    else if (equalsIgnoringCase(buf, from, to, tokenKeepAlive)) this.#wantsKeepAlive = true;
  }

  #readTimeoutParameter(from: number, to: number): void {
    const buf = this.#buf;
    const nameEnd = from + paramTimeout.length;
    if (nameEnd >= to || !equalsIgnoringCase(buf, from, nameEnd, paramTimeout)) return;
    const seconds = parseDecimal(buf, nameEnd, to);
    if (seconds >= 0) this.keepAliveTimeoutMs = seconds * 1000;
  }

  /** The blank line after the fields. Returns true when the response is complete (no body). */
  #endOfHead(): boolean {
    const status = this.status;
    if (status < 200) {
      // 101 would switch protocols, which we never ask for; other 1xx (100 Continue, 103 Early
      // Hints) precede the real response on the same connection.
      if (status === 101) throw malformed('unexpected 101 Switching Protocols');
      this.status = 0;
      this.#state = stateStatus;
      this.#resetHead();
      return false;
    }
    this.shouldKeepAlive = !this.#wantsClose && (this.#minor >= 1 || this.#wantsKeepAlive);
    this.#sink.onResponseHead(status);
    if (this.#isHeadRequest || status === 204 || status === 304) {
      this.#state = stateDone;
      return true;
    }
    if (this.#hasTransferEncoding) {
      // With both, Transfer-Encoding wins and the connection must not be reused (RFC 9112 §6.3).
      if (this.#contentLength >= 0) this.shouldKeepAlive = false;
      if (this.#isChunked) {
        this.#state = stateChunkSize;
      } else {
        this.#state = stateBodyUntilClose;
        this.shouldKeepAlive = false;
      }
      return false;
    }
    if (this.#contentLength >= 0) {
      if (this.#contentLength === 0) {
        this.#state = stateDone;
        return true;
      }
      this.#remaining = this.#contentLength;
      this.#state = stateBodyLength;
      return false;
    }
    this.#state = stateBodyUntilClose;
    this.shouldKeepAlive = false;
    return false;
  }

  #readChunkSize(buf: Uint8Array, start: number, end: number): void {
    let size = 0;
    let i = start;
    for (; i < end; i++) {
      const digit = hexValue(buf[i]);
      if (digit < 0) break;
      if (i - start >= maxChunkSizeDigits) throw malformed('chunk size too large');
      size = size * 16 + digit;
    }
    if (i === start) throw malformed('bad chunk size');
    while (i < end && isOws(buf[i])) i++;
    // Anything after the size must be chunk extensions (`;name=value`), which we ignore.
    if (i < end && buf[i] !== 59) throw malformed('bad chunk size');
    if (size === 0) {
      this.#state = stateTrailer;
    } else {
      this.#remaining = size;
      this.#state = stateChunkData;
    }
  }
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** A non-empty string of decimal digits as a number, or -1. */
function parseDecimal(buf: Uint8Array, start: number, end: number): number {
  if (end <= start || end - start > maxLengthDigits) return -1;
  let value = 0;
  for (let i = start; i < end; i++) {
    const c = buf[i];
    if (c < 48 || c > 57) return -1;
    value = value * 10 + (c - 48);
  }
  return value;
}

function hasColon(buf: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (buf[i] === 58) return true;
  return false;
}

function indexOfLf(data: Uint8Array, start: number, end: number): number {
  const at = data.indexOf(LF, start);
  return at === -1 || at >= end ? -1 : at;
}
