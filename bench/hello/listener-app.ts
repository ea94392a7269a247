// The hello-world Node listener served by ballast, the raw node:http cluster and PM2.
import type { IncomingMessage, ServerResponse } from 'node:http';

const body = 'Hello, World!\n';

export default function hello(_req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
