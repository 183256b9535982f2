// The foci our clients advertise: the SFU's LiveKit focus first when it serves one (so
// Element Call users see us), our own transport after it; the probe is the token endpoint's
// OPTIONS answer, and any failure means "our transport only".

import { describe, expect, it, vi } from 'vitest';
import { liveKitFocusOf, preferredFoci, servesLiveKitFocus } from '../../../../../src/browser/client/matrix/foci.ts';

const ours = { type: 'org.matrix_sfu.mediasoup', sfu_service_url: 'https://sfu.example.org' };

describe('foci', () => {
  it('preferredFoci() puts the LiveKit focus with our service URL first, then our transport', () => {
    expect(preferredFoci(ours, true)).toEqual([{ type: 'livekit', livekit_service_url: 'https://sfu.example.org' }, ours]);
    expect(preferredFoci(ours, false)).toEqual([ours]);
    expect(liveKitFocusOf('https://sfu.example.org/')).toEqual({ type: 'livekit', livekit_service_url: 'https://sfu.example.org' });
  });

  it('servesLiveKitFocus() is true only for a 204 to OPTIONS /get_token', async () => {
    const answer = (status: number) => vi.fn(async () => new Response(null, { status }));
    const yes = answer(204);
    expect(await servesLiveKitFocus('https://sfu.example.org/', { fetch: yes })).toBe(true);
    expect(yes).toHaveBeenCalledWith('https://sfu.example.org/get_token', expect.objectContaining({ method: 'OPTIONS' }));
    expect(await servesLiveKitFocus('https://sfu.example.org', { fetch: answer(404) })).toBe(false);
    const logger = { debug: vi.fn() };
    const failing = vi.fn(async () => {
      throw new TypeError('Failed to fetch');
    });
    expect(await servesLiveKitFocus('https://sfu.example.org', { fetch: failing, logger })).toBe(false);
    expect(logger.debug).toHaveBeenCalledOnce();
  });
});
