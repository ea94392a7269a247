// A plain Fetch handler: `ballast serve examples/fetch-app.ts`.
// ctx.signal aborts when the client goes away, so slow work can stop early.

import { setTimeout as sleep } from 'node:timers/promises';

export default async function handler(request: Request, ctx: { signal: AbortSignal; requestId: string }): Promise<Response> {
  const url = new URL(request.url);
  if (url.pathname === '/hello') return new Response('Hello from a Fetch handler\n');
  if (url.pathname === '/echo' && request.method === 'POST') {
    const body = await request.text();
    return Response.json({ length: body.length, body, requestId: ctx.requestId });
  }
  if (url.pathname === '/slow') {
    await sleep(Number(url.searchParams.get('ms') ?? 1000), undefined, { signal: ctx.signal });
    return new Response('done\n');
  }
  return new Response('not found\n', { status: 404 });
}
