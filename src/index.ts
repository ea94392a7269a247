// ballast's public API for apps: what an app may import (`import { trace } from 'ballast'`).

export { trace } from './introspection/request-context.ts';
export type { RequestContext } from './worker/app-loader.ts';
export { BallastError } from './errors.ts';
export type { ErrorCode } from './errors.ts';
