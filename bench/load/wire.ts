// The wire as the reference clock for bench/load --mode wire: tcpdump captures the loopback
// traffic of one run against one server port, and every request's time from its first byte on the
// wire to the first byte of its response is read off the packets' kernel timestamps (nanosecond
// precision). A generator reports the same interval plus its own costs (writing the request,
// noticing and parsing the response) and minus nothing, so "reported − wire" per percentile is
// that generator's measurement error, measured rather than argued; and two generators whose
// servers behaved differently (the server's own tail moves from run to run on a shared VM) can
// still be compared on their errors.
//
// Pairing needs no request ids: both generators keep at most one request in flight per
// connection (no pipelining), so on each connection (the client's port) a client payload packet
// with no request pending starts one, and the next server payload packet ends it. The hello-world
// request and response each fit in one packet; a capture of anything bigger would still pair
// correctly (later packets of the same message are skipped), timing to the first response byte.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

export interface WireCapture {
  /** Stops the capture and reads it: request-to-response times in µs, and packets the kernel dropped. */
  stop(): Promise<{ samplesUs: number[]; dropped: number }>;
}

/**
 * Starts tcpdump on `lo` for TCP port `port` into `file`; resolves once it is capturing.
 * @param options.immediate hand each packet to tcpdump as it arrives. By default libpcap's ring
 *   hands them over a block at a time (when the block fills, or after its 1 s timeout), so the
 *   capture misses what is still in the last block when it stops: the last ~0.1-1 s of a run (in
 *   one 6 s run at 480 req/s, 70 of 2,890 requests). That costs both tools of a benchmark the same
 *   end of their run; a test that counts every request needs it immediate, at one tcpdump wake-up
 *   per packet.
 */
export async function startCapture(port: number, file: string, options: { immediate?: boolean } = {}): Promise<WireCapture> {
  // 96 bytes hold the Ethernet, IPv4 and TCP headers with options; -B: a 64 MiB kernel buffer.
  const child = spawn('tcpdump', ['-i', 'lo', '-s', '96', '--time-stamp-precision=nano', '-B', '65536', ...(options.immediate ? ['--immediate-mode'] : []), '-w', file, `tcp port ${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  const lines = createInterface({ input: child.stderr! });
  let log = '';
  const exited = once(child, 'exit');
  await new Promise<void>((resolve, reject) => {
    lines.on('line', (line) => {
      log += `${line}\n`;
      if (line.includes('listening on')) resolve();
    });
    child.on('error', reject);
    exited.then(() => reject(new Error(`tcpdump exited before capturing: ${log}`)), reject);
  });
  return {
    async stop() {
      child.kill('SIGINT');
      await exited;
      const dropped = Number(/(\d+) packets dropped by kernel/.exec(log)?.[1] ?? 0);
      return { samplesUs: pairRequests(readFileSync(file), port), dropped };
    },
  };
}

/** Request-to-response times (µs) of every connection to `port` in a pcap file. */
export function pairRequests(pcap: Buffer, port: number): number[] {
  const magic = pcap.readUInt32LE(0);
  if (magic !== 0xa1b23c4d && magic !== 0xa1b2c3d4) throw new Error('not a little-endian pcap file');
  const fractionUs = magic === 0xa1b23c4d ? 1e-3 : 1;
  const linkType = pcap.readUInt32LE(20);
  // Ethernet (what Linux reports for lo), Linux cooked capture, or raw IP.
  const linkHeader = linkType === 1 ? 14 : linkType === 113 ? 16 : 0;
  const pending = new Map<number, number>();
  const samples: number[] = [];
  for (let at = 24; at + 16 <= pcap.length; ) {
    const seconds = pcap.readUInt32LE(at);
    const fraction = pcap.readUInt32LE(at + 4);
    const captured = pcap.readUInt32LE(at + 8);
    const ip = at + 16 + linkHeader;
    at += 16 + captured;
    if (at > pcap.length || pcap[ip] >> 4 !== 4 || pcap[ip + 9] !== 6) continue;
    const ipHeader = (pcap[ip] & 15) * 4;
    const tcp = ip + ipHeader;
    const payload = pcap.readUInt16BE(ip + 2) - ipHeader - (pcap[tcp + 12] >> 4) * 4;
    if (payload <= 0) continue;
    const timeUs = seconds * 1e6 + fraction * fractionUs;
    const source = pcap.readUInt16BE(tcp);
    const destination = pcap.readUInt16BE(tcp + 2);
    if (destination === port) {
      if (!pending.has(source)) pending.set(source, timeUs);
    } else if (source === port) {
      const sentUs = pending.get(destination);
      if (sentUs !== undefined) {
        samples.push(timeUs - sentUs);
        pending.delete(destination);
      }
    }
  }
  return samples;
}
