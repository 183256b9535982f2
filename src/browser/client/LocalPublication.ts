// One local track the caller published. The handle outlives its producer:
// after a worker restart the client re-produces the same track with the same
// options, so `producerId` changes while the handle stays valid.

import type { Producer, ProducerCodecOptions, RtpEncodingParameters } from 'mediasoup-client/types';
import type { MediaSource } from '../../common/protocol/messages.ts';
import { AUDIO_CODEC_OPTIONS, SIMULCAST_ENCODINGS, VIDEO_CODEC_OPTIONS } from './constants.ts';
import type { PublishOptions } from './types.ts';

/** A published local track; pass it to unpublish(), pausePublication() and resumePublication(). */
export class LocalPublication {
  readonly track: MediaStreamTrack;
  readonly kind: 'audio' | 'video';
  readonly source: MediaSource;
  readonly #options: PublishOptions;
  #producer: Producer | undefined;
  #paused: boolean;
  #closed = false;

  constructor(track: MediaStreamTrack, options: PublishOptions) {
    if (track.kind !== 'audio' && track.kind !== 'video') throw new TypeError(`unsupported track kind ${track.kind}`);
    if (track.readyState === 'ended') throw new TypeError('track has ended');
    this.track = track;
    this.kind = track.kind;
    this.source = options.source;
    this.#options = { ...options, ...(options.encodings ? { encodings: structuredClone(options.encodings) } : {}) };
    this.#paused = options.paused === true;
  }

  /** Server id of the current producer; undefined while (re)publishing. */
  get producerId(): string | undefined {
    return this.#producer && !this.#producer.closed ? this.#producer.id : undefined;
  }

  /** Whether the caller paused it. */
  get paused(): boolean {
    return this.#paused;
  }

  /** Whether unpublish() ran. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The live producer, if any (internal to the client). */
  get producer(): Producer | undefined {
    return this.#producer && !this.#producer.closed ? this.#producer : undefined;
  }

  /** Records the producer of the current media generation (internal to the client). */
  setProducer(producer: Producer | undefined): void {
    this.#producer = producer;
  }

  /** Records the caller's pause state (internal to the client). */
  setPaused(paused: boolean): void {
    this.#paused = paused;
  }

  /** Marks the handle closed (internal to the client). */
  markClosed(): void {
    this.#closed = true;
    this.#producer = undefined;
  }

  /**
   * Encodings for a new producer: fresh copies, because mediasoup-client
   * writes rid and scalabilityMode into them. Undefined lets the browser
   * pick (one encoding).
   */
  encodings(): RtpEncodingParameters[] | undefined {
    if (this.#options.encodings) return structuredClone(this.#options.encodings);
    if (this.kind === 'video' && this.#options.simulcast !== false) return SIMULCAST_ENCODINGS.map((encoding) => ({ ...encoding }));
    return undefined;
  }

  /** Codec options for a new producer. */
  codecOptions(): ProducerCodecOptions {
    return { ...(this.kind === 'audio' ? AUDIO_CODEC_OPTIONS : VIDEO_CODEC_OPTIONS), ...this.#options.codecOptions };
  }

  /** Preferred codec, if the caller chose one (internal to the client). */
  get codec(): PublishOptions['codec'] {
    return this.#options.codec;
  }
}
