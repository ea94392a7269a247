// Seed 000's topology: nginx in front, one upstream per route (/check_feed, /stream_feed,
// everything else), nginx's default proxy timeouts (connect, send and read: 60 s). The lab writes
// the nginx.conf, runs nginx as its own process (prefix, pid file, logs and temp paths in a temp
// directory, `daemon off`, loopback ports only) and stops it by its pid.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createConnection } from 'node:net';
import { spawnManaged, type ManagedProcess } from './processes.ts';

export interface NginxUpstreams {
  checkFeed: string;
  streamFeed: string;
  other: string;
}

function hostPort(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port}`;
}

/** The nginx.conf for seed 000: one upstream per route, proxy timeouts left at nginx's defaults. */
export function renderNginxConf(dir: string, port: number, upstreams: NginxUpstreams): string {
  return `# Written by ballast lab: seed 000's topology (nginx in front, one upstream per route).
# Proxy timeouts are nginx's defaults (proxy_connect/send/read_timeout 60s), as in the seed.
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${join(dir, 'tmp', 'body')};
  proxy_temp_path ${join(dir, 'tmp', 'proxy')};
  fastcgi_temp_path ${join(dir, 'tmp', 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'tmp', 'uwsgi')};
  scgi_temp_path ${join(dir, 'tmp', 'scgi')};
  upstream check_feed { server ${hostPort(upstreams.checkFeed)}; keepalive 32; }
  upstream stream_feed { server ${hostPort(upstreams.streamFeed)}; }
  upstream app { server ${hostPort(upstreams.other)}; keepalive 32; }
  server {
    listen 127.0.0.1:${port};
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    location = /check_feed { proxy_pass http://check_feed; }
    location = /stream_feed { proxy_pass http://stream_feed; proxy_buffering off; }
    location / { proxy_pass http://app; }
  }
}
`;
}

function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const socket = createConnection({ host: '127.0.0.1', port });
      socket.once('connect', () => { socket.destroy(); resolve(); });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`nginx did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

export interface NginxHandle {
  url: string;
  confPath: string;
  conf: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

export async function startNginx(nginxPath: string, dir: string, port: number, upstreams: NginxUpstreams): Promise<NginxHandle> {
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  const conf = renderNginxConf(dir, port, upstreams);
  const confPath = join(dir, 'nginx.conf');
  writeFileSync(confPath, conf);
  const child = spawnManaged('nginx', nginxPath, ['-p', dir, '-c', confPath, '-g', 'daemon off;'], process.env);
  try {
    await Promise.race([
      waitForPort(port, 10_000),
      child.exited.then(() => { throw new Error(`nginx exited at start: ${child.logs.map((r) => r.msg).join('\n')}`); }),
    ]);
  } catch (error) {
    await child.stop(2000);
    throw error;
  }
  return { url: `http://127.0.0.1:${port}`, confPath, conf, process: child, stop: () => child.stop(5000) };
}
