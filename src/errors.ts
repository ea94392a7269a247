// The error catalogue: every error ballast raises on purpose has a stable code, a default message
// and, when it is answered over HTTP, the status it maps to. HTTP-facing messages are written for
// clients and never carry internals (stacks, paths); the log line carries the detail.

export type ErrorCode = keyof typeof catalogue;

const catalogue = {
  BALLAST_ERR_INVALID_SETTING: { status: 0, message: 'invalid setting' },
  BALLAST_ERR_UNKNOWN_SETTING: { status: 0, message: 'unknown setting' },
  BALLAST_ERR_CONFIG_FILE: { status: 0, message: 'cannot load the config file' },
  BALLAST_ERR_USAGE: { status: 0, message: 'invalid command line' },
  BALLAST_ERR_APP_LOAD: { status: 0, message: 'the app failed to load' },
  BALLAST_ERR_APP_SHAPE: { status: 0, message: 'the module does not export a usable app' },
  BALLAST_ERR_BOOT_FAILED: { status: 0, message: 'a worker failed to boot' },
  BALLAST_ERR_BOOT_TIMEOUT: { status: 0, message: 'a worker did not become ready in time' },
  BALLAST_ERR_BIND: { status: 0, message: 'cannot listen on the requested address' },
  BALLAST_ERR_APP_HANDLER: { status: 500, message: 'Internal Server Error' },
  BALLAST_ERR_BAD_RESPONSE: { status: 500, message: 'Internal Server Error' },
  BALLAST_ERR_BAD_REQUEST: { status: 400, message: 'Bad Request' },
  BALLAST_ERR_REQUEST_TIMEOUT: { status: 408, message: 'Request Timeout' },
  BALLAST_ERR_BODY_TOO_LARGE: { status: 413, message: 'Payload Too Large' },
  BALLAST_ERR_URI_TOO_LONG: { status: 414, message: 'URI Too Long' },
  BALLAST_ERR_HEADERS_TOO_LARGE: { status: 431, message: 'Request Header Fields Too Large' },
  BALLAST_ERR_SHUTTING_DOWN: { status: 503, message: 'Service Unavailable' },
  BALLAST_ERR_QUEUE_FULL: { status: 503, message: 'Service Unavailable: the server is at capacity (queue full)' },
  BALLAST_ERR_QUEUE_TIMEOUT: { status: 503, message: 'Service Unavailable: the server is at capacity (waited too long for a slot)' },
  BALLAST_ERR_OVERLOAD: { status: 503, message: 'Service Unavailable: the server is overloaded' },
  BALLAST_ERR_STREAM_LIMIT: { status: 503, message: 'Service Unavailable: too many open streams' },
  BALLAST_ERR_DEADLINE: { status: 504, message: 'Gateway Timeout: the app did not answer within its deadline' },
  BALLAST_ERR_THREAD_REPLACED: { status: 503, message: 'Service Unavailable: the handler thread was replaced' },
  BALLAST_ERR_INVALID_ROUTE: { status: 0, message: 'invalid route configuration' },
  BALLAST_ERR_UNAUTHORIZED: { status: 401, message: 'Unauthorized: this admin endpoint needs the admin token (Authorization: Bearer TOKEN, or ?token=TOKEN)' },
  BALLAST_ERR_NOT_FOUND: { status: 404, message: 'Not Found' },
  BALLAST_ERR_LOAD_PLAN: { status: 0, message: 'invalid load plan' },
  BALLAST_ERR_LOAD_RESULT: { status: 0, message: 'cannot read a load result file' },
  BALLAST_ERR_LOAD_RESPONSE: { status: 0, message: 'the load target sent a malformed HTTP response' },
  BALLAST_ERR_LOAD_CLOSED: { status: 0, message: 'the connection closed before the response was complete' },
  BALLAST_ERR_LOAD_TIMEOUT: { status: 0, message: 'no complete response within the request timeout' },
  BALLAST_ERR_LOAD_PACER: { status: 0, message: 'the pacer thread failed; the event loop\'s timers pace the rest of the run' },
  BALLAST_ERR_LOAD_STOPPED: { status: 0, message: 'stopped before the load started; nothing was sent to the target' },
} as const;

export class BallastError extends Error {
  readonly code: ErrorCode;
  /** HTTP status when this error is answered to a client; 0 when it never is. */
  readonly status: number;

  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown }) {
    super(message ?? catalogue[code].message, options);
    this.name = 'BallastError';
    this.code = code;
    this.status = catalogue[code].status;
  }
}

export function createError(code: ErrorCode, message?: string, cause?: unknown): BallastError {
  return new BallastError(code, message, cause === undefined ? undefined : { cause });
}

/** The HTTP status a code is answered with (0: never answered to a client), without building an error. */
export function statusOf(code: ErrorCode): number {
  return catalogue[code].status;
}

export function defaultMessage(code: ErrorCode): string {
  return catalogue[code].message;
}

export function isBallastError(value: unknown): value is BallastError {
  return value instanceof BallastError;
}

/** Reserved process exit codes (as gunicorn's arbiter reserves 3 for boot errors). */
export const exitCodes = {
  ok: 0,
  failure: 1,
  usage: 2,
  bootError: 3,
  appLoadError: 4,
} as const;
