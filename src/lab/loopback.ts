// Listening for the lab's simulated services: loopback by default, and `exclusive`, so a service
// started inside a cluster worker binds a socket of its own instead of sharing the supervisor's.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export async function listenLoopback(server: Server, options: { port?: number; host?: string }): Promise<{ url: string; close: () => Promise<void> }> {
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: options.port ?? 0, host, exclusive: true }, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** A port free on 127.0.0.1 right now (for servers started in another process). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}
