// A Hono app: Hono apps are Fetch handlers (`app.fetch`), so ballast serves them as they are:
// `ballast serve examples/hono-app.ts`.

import { Hono } from 'hono';

const app = new Hono();

app.get('/hello', (c) => c.text('Hello from Hono\n'));
app.get('/users/:id', (c) => c.json({ id: c.req.param('id') }));
app.post('/echo', async (c) => c.json({ received: await c.req.json() }));

export default app;
