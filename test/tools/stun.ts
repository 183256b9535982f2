// A minimal ICE agent for media tests: a STUN Binding Request that a mediasoup
// WebRtcTransport accepts and selects (USERNAME, PRIORITY, ICE-CONTROLLING, USE-CANDIDATE,
// MESSAGE-INTEGRITY with the transport's ICE password, FINGERPRINT; RFC 8445 / RFC 5389),
// and RFC 4571 framing for ICE-TCP.

import { createHmac, randomBytes } from 'node:crypto';

/** The ICE parameters of the transport the request is for. */
export interface IceParameters {
  usernameFragment: string;
  password: string;
}

function attribute(type: number, value: Buffer): Buffer {
  const out = Buffer.alloc(4 + Math.ceil(value.length / 4) * 4);
  out.writeUInt16BE(type, 0);
  out.writeUInt16BE(value.length, 2);
  value.copy(out, 4);
  return out;
}

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = crcTable[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** A Binding Request that nominates the tuple it arrives on (one UDP datagram). */
export function stunBindingRequest(ice: IceParameters): Buffer {
  const priority = Buffer.alloc(4);
  priority.writeUInt32BE(0x6e0001ff, 0);
  const body = Buffer.concat([
    attribute(0x0006, Buffer.from(`${ice.usernameFragment}:client`)),
    attribute(0x0024, priority),
    attribute(0x802a, randomBytes(8)),
    attribute(0x0025, Buffer.alloc(0)),
  ]);
  const header = Buffer.alloc(20);
  header.writeUInt16BE(0x0001, 0);
  header.writeUInt32BE(0x2112a442, 4);
  randomBytes(12).copy(header, 8);
  // MESSAGE-INTEGRITY covers the message with the length field counting up to itself.
  header.writeUInt16BE(body.length + 24, 2);
  const integrity = createHmac('sha1', ice.password).update(Buffer.concat([header, body])).digest();
  const withIntegrity = Buffer.concat([body, attribute(0x0008, integrity)]);
  header.writeUInt16BE(withIntegrity.length + 8, 2);
  const fingerprint = Buffer.alloc(4);
  fingerprint.writeUInt32BE((crc32(Buffer.concat([header, withIntegrity])) ^ 0x5354554e) >>> 0, 0);
  return Buffer.concat([header, withIntegrity, attribute(0x8028, fingerprint)]);
}

/** RFC 4571 framing (16-bit length prefix) for ICE-TCP. */
export function framed(message: Buffer): Buffer {
  const frame = Buffer.alloc(2);
  frame.writeUInt16BE(message.length, 0);
  return Buffer.concat([frame, message]);
}
