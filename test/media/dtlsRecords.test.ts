// A DTLS handshake through the worker without a browser (our worker patch
// 0002-dtls-bio-callback-result.patch). Unpatched, mediasoup 3.19.22's write-BIO callback
// answered 1 to every BIO operation, Debian's kTLS-enabled OpenSSL then took the BIO for a
// kernel-TLS one, allocated no record buffer, and the worker died with SIGSEGV on its first
// DTLS record. Here a Node UDP socket completes ICE with a WebRtcTransport (STUN Binding with
// USE-CANDIDATE), then connects it as DTLS server so that the worker, as DTLS client, sends
// its ClientHello flight (and retransmissions); every datagram must parse as whole DTLS
// records. The unpatched worker dies at connect().

import { createSocket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { WorkerPool } from '../../src/server/media/WorkerPool.ts';
import { MEDIA_CODECS } from '../../src/server/media/codecs.ts';
import { silentLogger } from '../../src/common/lib/logger.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { freeMediaBasePort } from '../tools/ports.ts';
import { stunBindingRequest } from '../tools/stun.ts';
import { waitForExit } from '../tools/workerPid.ts';

let pool: WorkerPool | undefined;

afterEach(async () => {
  const pids = pool?.slots.map((slot) => slot.worker.pid) ?? [];
  pool?.close();
  pool = undefined;
  await waitForExit(pids);
});

/** The DTLS records of a datagram, or undefined when it is not a sequence of whole records. */
function dtlsRecords(datagram: Buffer): { type: number; length: number }[] | undefined {
  const records: { type: number; length: number }[] = [];
  let offset = 0;
  while (offset < datagram.length) {
    if (datagram.length - offset < 13) return undefined;
    const type = datagram[offset]!;
    const version = datagram.readUInt16BE(offset + 1);
    const length = datagram.readUInt16BE(offset + 11);
    if (type < 20 || type > 25 || (version !== 0xfeff && version !== 0xfefd)) return undefined;
    offset += 13 + length;
    if (offset > datagram.length) return undefined;
    records.push({ type, length });
  }
  return records;
}

describe('DTLS output of the worker', () => {
  it('every DTLS datagram the worker sends is whole records (no resent tails)', async () => {
    pool = await WorkerPool.create({
      numWorkers: 1,
      listenIp: '127.0.0.1',
      announcedAddress: '',
      basePort: await freeMediaBasePort(1),
      workerLogLevel: 'warn',
      logger: silentLogger(),
    });
    const { worker, webRtcServer, port } = pool.slots[0]!;
    const router = await worker.createRouter({ mediaCodecs: MEDIA_CODECS });
    const transport = await router.createWebRtcTransport({ webRtcServer, enableUdp: true, enableTcp: false });

    const socket = createSocket('udp4');
    const datagrams: Buffer[] = [];
    socket.on('message', (message) => {
      // DTLS content types 20–63 (RFC 7983); STUN responses start with 0–3.
      if (message[0]! >= 20 && message[0]! <= 63) datagrams.push(message);
    });
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    try {
      socket.send(stunBindingRequest(transport.iceParameters), port, '127.0.0.1');
      await waitFor(() => transport.iceSelectedTuple?.protocol === 'udp', { timeoutMs: 3000, description: 'ICE tuple selected' });

      // We are the DTLS server, so the worker starts the handshake; nobody answers it, so it
      // retransmits its flight (after 100 ms, then doubling).
      await transport.connect({
        dtlsParameters: { role: 'server', fingerprints: [{ algorithm: 'sha-256', value: Array(32).fill('AB').join(':') }] },
      });
      await waitFor(() => datagrams.length >= 2, { timeoutMs: 5000, description: 'the ClientHello and a retransmission' });
      await new Promise((resolve) => setTimeout(resolve, 300));

      const parsed = datagrams.map(dtlsRecords);
      console.info(
        `[dtlsRecords] ${datagrams.length} DTLS datagrams from the worker: ${datagrams.map((d) => d.length).join(', ')} bytes`,
      );
      expect(parsed.every((records) => records !== undefined && records.length > 0)).toBe(true);
      // Handshake records (22) carrying the ClientHello, each datagram the same size.
      expect(parsed.every((records) => records!.every((record) => record.type === 22))).toBe(true);
      expect(new Set(datagrams.map((d) => d.length)).size).toBe(1);
    } finally {
      socket.close();
      transport.close();
      router.close();
    }
  });
});
