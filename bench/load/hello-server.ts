// The benchmark target: a raw node:http hello world, as small as a server can be, so the numbers
// measure the load generators. Prints `{"port":N}` when listening.
import { createServer } from 'node:http';

const body = Buffer.from('hello world');
const server = createServer((_request, response) => {
  response.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  response.end(body);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`));
process.on('SIGTERM', () => process.exit(0));
