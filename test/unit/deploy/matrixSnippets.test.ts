// The homeserver-side snippets an operator copies (native-config/matrix): both advertise
// this SFU as a `livekit` transport (Element Call takes the first of that type and fails
// with "transport missing" without one) and as our own transport (the widget).

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const file = (name: string) => readFileSync(fileURLToPath(new URL(`../../../native-config/matrix/${name}`, import.meta.url)), 'utf8');

describe('native-config/matrix snippets', () => {
  it('Synapse matrix_rtc.transports names this SFU as a livekit focus and as our own transport', () => {
    const config = parse(file('synapse-rtc-transports.yaml')) as { matrix_rtc: { transports: Array<Record<string, string>> }; experimental_features: Record<string, boolean> };
    expect(config.experimental_features['msc4143_enabled']).toBe(true);
    const transports = config.matrix_rtc.transports;
    expect(transports.find((t) => t['type'] === 'livekit')).toEqual({ type: 'livekit', livekit_service_url: 'https://sfu.example.org' });
    expect(transports.find((t) => t['type'] === 'org.matrix_sfu.mediasoup')).toEqual({ type: 'org.matrix_sfu.mediasoup', sfu_service_url: 'https://sfu.example.org' });
  });

  it('.well-known rtc_foci lists the same two transports', () => {
    const wellKnown = JSON.parse(file('well-known-matrix-client.json')) as Record<string, Array<Record<string, string>>>;
    expect(wellKnown['org.matrix.msc4143.rtc_foci']!.map((f) => f['type'])).toEqual(['livekit', 'org.matrix_sfu.mediasoup']);
  });
});
