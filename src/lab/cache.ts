// The demo app's cache: Redis through ioredis when REDIS_URL is set (shared by every worker),
// an in-process LRU otherwise (one per worker).

import { LRUCache } from 'lru-cache';
import { Redis } from 'ioredis';

export interface Cache {
  kind: 'redis' | 'lru';
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
  close(): Promise<void>;
}

export function createCache(redisUrl?: string): Cache {
  if (redisUrl) {
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: 2, enableOfflineQueue: true, lazyConnect: false });
    redis.on('error', () => { /* reconnects by itself; a failed get is a cache miss */ });
    return {
      kind: 'redis',
      get: async (key) => (await redis.get(key).catch(() => null)) ?? undefined,
      set: async (key, value, ttlSeconds) => { await redis.set(key, value, 'EX', ttlSeconds).catch(() => {}); },
      close: async () => { redis.disconnect(); },
    };
  }
  const lru = new LRUCache<string, string>({ max: 100_000, ttlAutopurge: false });
  return {
    kind: 'lru',
    get: async (key) => lru.get(key),
    set: async (key, value, ttlSeconds) => { lru.set(key, value, { ttl: ttlSeconds * 1000 }); },
    close: async () => lru.clear(),
  };
}
