// Captures real Chromium SDP for the unit tests of src/server/livekit/sdp.ts:
//   node test/e2e/pages/livekit/captureSdp.ts
// writes test/fixtures/livekit/chromium-publisher-offer.sdp (what livekit-client's publisher
// PC offers: the two data channels, a camera with three rid simulcast layers q/h/f, a
// microphone) and chromium-subscriber-answer.sdp (Chromium's answer to an offer our
// buildSubscriberOffer() wrote for one audio and one video consumer).

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { launchBrowser } from '../../../tools/browser.ts';
import { buildSubscriberOffer } from '../../../../src/server/livekit/sdp.ts';
import { SUBSCRIBER_SECTIONS, TRANSPORT } from '../../../fixtures/livekit/sdpInputs.ts';

/** The browser globals the page functions use (this file is type-checked with Node's lib, without DOM). */
interface BrowserPeer {
  createDataChannel(label: string, options?: object): unknown;
  addTransceiver(track: unknown, init: object): unknown;
  createOffer(): Promise<{ sdp?: string }>;
  createAnswer(): Promise<{ sdp?: string }>;
  setLocalDescription(description: object): Promise<void>;
  setRemoteDescription(description: object): Promise<void>;
}
type BrowserGlobals = {
  RTCPeerConnection: new () => BrowserPeer;
  navigator: { mediaDevices: { getUserMedia(constraints: object): Promise<{ getVideoTracks(): unknown[]; getAudioTracks(): unknown[] }> } };
};

const FIXTURES = join(import.meta.dirname, '..', '..', '..', 'fixtures', 'livekit');

// getUserMedia needs a secure context: a loopback page is one.
const server = createServer((_request, response) => response.end('<!doctype html><title>capture</title>'));
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const browser = await launchBrowser();
try {
  const page = await browser.newPage('capture');
  await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  const offer = await page.evaluate(async () => {
    const { RTCPeerConnection, navigator } = globalThis as unknown as BrowserGlobals;
    const pc = new RTCPeerConnection();
    pc.createDataChannel('_reliable', { ordered: true });
    pc.createDataChannel('_lossy', { ordered: true, maxRetransmits: 0 });
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 1280, height: 720 } });
    pc.addTransceiver(stream.getVideoTracks()[0]!, {
      direction: 'sendonly',
      streams: [stream],
      sendEncodings: [
        { rid: 'q', scaleResolutionDownBy: 4 },
        { rid: 'h', scaleResolutionDownBy: 2 },
        { rid: 'f' },
      ],
    });
    pc.addTransceiver(stream.getAudioTracks()[0]!, { direction: 'sendonly', streams: [stream] });
    const description = await pc.createOffer();
    await pc.setLocalDescription(description);
    return description.sdp!;
  });
  await writeFile(join(FIXTURES, 'chromium-publisher-offer.sdp'), offer);
  const ourOffer = buildSubscriberOffer(TRANSPORT, SUBSCRIBER_SECTIONS, 1);
  const answer = await page.evaluate(async (sdp) => {
    const { RTCPeerConnection } = globalThis as unknown as BrowserGlobals;
    const pc = new RTCPeerConnection();
    await pc.setRemoteDescription({ type: 'offer', sdp });
    const description = await pc.createAnswer();
    await pc.setLocalDescription(description);
    return description.sdp!;
  }, ourOffer);
  await writeFile(join(FIXTURES, 'chromium-subscriber-answer.sdp'), answer);
  console.log('captured', offer.length, answer.length);
} finally {
  await browser.close();
  server.close();
}
