// Maps the events of a participant handle (the conference core's own,
// wire-free vocabulary) to protocol v1 notifications, and the handle's close
// reasons to WebSocket close codes. The only place that knows both sides.

import type { ParticipantCloseReason } from '../conference/events.ts';
import type { ParticipantHandle } from '../conference/ParticipantHandle.ts';
import { CLOSE_CODES, type CloseCode } from '../../common/protocol/closeCodes.ts';
import type { NotificationDataMap, NotificationName } from '../../common/protocol/messages.ts';

/** Sends one notification to the client. */
export type Notify = <N extends NotificationName>(method: N, data: NotificationDataMap[N]) => void;

/** Forwards every client-facing event of `handle` as a notification. */
export function forwardNotifications(handle: ParticipantHandle, notify: Notify): void {
  handle.on('peerJoined', (peer) => notify('peerJoined', peer));
  handle.on('peerLeft', (participantId) => notify('peerLeft', { participantId }));
  handle.on('consumerCreated', (consumer) => notify('consumerCreated', consumer));
  handle.on('consumerClosed', (consumerId) => notify('consumerClosed', { consumerId }));
  handle.on('consumerPaused', (consumerId) => notify('consumerPaused', { consumerId }));
  handle.on('consumerResumed', (consumerId) => notify('consumerResumed', { consumerId }));
  handle.on('consumerLayersChanged', (consumerId, layers) =>
    notify('consumerLayersChanged', { consumerId, spatialLayer: layers?.spatialLayer ?? null, temporalLayer: layers?.temporalLayer ?? null }),
  );
  handle.on('consumerScore', (consumerId, score, producerScore) => notify('consumerScore', { consumerId, score, producerScore }));
  handle.on('activeSpeaker', (participantId) => notify('activeSpeaker', { participantId }));
  handle.on('mediaReset', (reason) => notify('reconnectRequested', { reason }));
}

/**
 * The close code a session closes with when its handle closes for `reason`,
 * or undefined for edge-initiated reasons (the session is already closing).
 */
export function closeCodeFor(reason: ParticipantCloseReason): CloseCode | undefined {
  switch (reason) {
    case 'replaced':
      return CLOSE_CODES.REPLACED;
    case 'conference-closed':
      return CLOSE_CODES.CONFERENCE_CLOSED;
    case 'router-lost':
      return CLOSE_CODES.MEDIA_LOST;
    case 'left':
    case 'disconnected':
    case 'evicted':
      return undefined;
  }
}
