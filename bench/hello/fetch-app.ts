// The hello-world Fetch handler served by ballast and by @hono/node-server.
export default {
  fetch(_request: Request): Response {
    return new Response('Hello, World!\n', { headers: { 'content-type': 'text/plain; charset=utf-8' } });
  },
};
