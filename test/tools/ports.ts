// Media ports for tests. mediasoup's WebRtcServer needs one known port per worker slot (UDP and
// TCP alike), so tests cannot take port 0 from the OS there; they take a run of ports below the
// ephemeral range (32768+), where the OS never hands out ports to other programs' outgoing
// sockets, and probe that every port of the run is free on both UDP and TCP first.

import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

/** Lowest and highest (exclusive) first port tried: below Linux's ephemeral range 32768–60999. */
const RANGE_START = 20_000;
const RANGE_END = 32_000;

function tcpFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

function udpFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    socket.once('error', () => {
      socket.close();
      resolve(false);
    });
    socket.bind({ port, address: host, exclusive: true }, () => socket.close(() => resolve(true)));
  });
}

/**
 * A first port `p` such that p … p+count-1 are free on UDP and TCP at `host`, all below 32768.
 * Tries at most 50 random runs, then throws.
 */
export async function freeMediaBasePort(count = 1, host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = RANGE_START + Math.floor(Math.random() * (RANGE_END - RANGE_START - count));
    let free = true;
    for (let port = first; port < first + count && free; port++) {
      free = (await tcpFree(port, host)) && (await udpFree(port, host));
    }
    if (free) return first;
  }
  throw new Error(`no run of ${count} free UDP+TCP ports below 32768 on ${host}`);
}
