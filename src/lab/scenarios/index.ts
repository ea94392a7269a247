// Every lab scenario, in the order `ballast lab` runs them (the four core ones first).

import type { Scenario } from '../types.ts';
import { checkFeed } from './check-feed.ts';
import { csvPair } from './csv-pair.ts';
import { database } from './database.ts';
import { leak, reload } from './lifecycle.ts';
import { nginx } from './nginx.ts';
import { overload, slowClients } from './overload.ts';
import { stalls } from './stalls.ts';
import { streamFeed } from './stream-feed.ts';

export const scenarios: Scenario[] = [checkFeed, streamFeed, csvPair, database, stalls, slowClients, leak, reload, overload, nginx];

export function findScenario(name: string): Scenario | undefined {
  return scenarios.find((scenario) => scenario.name === name);
}
