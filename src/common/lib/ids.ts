// Branded id types, so a participant id cannot be passed where a conference id is expected.

declare const brand: unique symbol;

/** A string tagged with a compile-time brand. */
export type Brand<T, B extends string> = T & { readonly [brand]: B };

export type ConferenceId = Brand<string, 'ConferenceId'>;
export type ParticipantId = Brand<string, 'ParticipantId'>;
export type TransportId = Brand<string, 'TransportId'>;
export type ProducerId = Brand<string, 'ProducerId'>;
export type ConsumerId = Brand<string, 'ConsumerId'>;
