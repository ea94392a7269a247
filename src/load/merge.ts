// `ballast load merge a.json b.json …`: one result from runs made by several processes or hosts.
// Groups are matched by name and seconds by their index from each run's start (start the agents
// together, e.g. as a Kubernetes Indexed Job); counts add and histograms add, so the merged
// percentiles are those of one run over the union of all samples, not an average of percentiles.

import { createError } from '../errors.ts';
import { buildResult, type GroupMeta } from './result.ts';
import type { IntervalData, RunResult } from './types.ts';

export function mergeResults(results: readonly RunResult[]): RunResult {
  if (results.length === 0) throw createError('BALLAST_ERR_USAGE', 'expected at least one result file to merge');
  const groups = new Map<string, { meta: GroupMeta; intervals: IntervalData[]; descriptions: Map<string, number> }>();
  for (const result of results) {
    for (const group of result.groups) {
      const existing = groups.get(group.name);
      if (existing && existing.meta.kind !== group.kind) {
        throw createError('BALLAST_ERR_LOAD_RESULT', `cannot merge group \`${group.name}\`: it is ${existing.meta.kind} in one file and ${group.kind} in another`);
      }
      if (existing) {
        existing.intervals.push(...group.intervals);
        for (const url of group.urls) if (!existing.meta.urls.includes(url)) existing.meta.urls.push(url);
        existing.descriptions.set(group.description, (existing.descriptions.get(group.description) ?? 0) + 1);
      } else {
        groups.set(group.name, { meta: { name: group.name, kind: group.kind, description: group.description, urls: [...group.urls] }, intervals: [...group.intervals], descriptions: new Map([[group.description, 1]]) });
      }
    }
  }
  // Each file's description is of its own share ("250 req/s" from each of two agents), so the
  // merged group says how many ran each: "2 × (open model, 250 req/s …)", or "A + B" when they differ.
  for (const group of groups.values()) {
    group.meta.description = [...group.descriptions].map(([description, count]) => (count > 1 ? `${count} × (${description})` : description)).join(' + ');
  }
  const startedAt = results.map((result) => result.startedAt).sort()[0];
  return buildResult({
    startedAt,
    durationMs: Math.max(...results.map((result) => result.durationMs)),
    runs: results.reduce((sum, result) => sum + (result.runs ?? 1), 0),
    groups: [...groups.values()],
    generator: results.flatMap((result) => result.generator),
  });
}
