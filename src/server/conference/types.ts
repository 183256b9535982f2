// Types shared by Conference and Participant: the sink through which a
// participant's session receives notifications, and the conference's options.

import type { ConferenceId, ParticipantId } from '../../common/lib/ids.ts';
import type { Logger } from '../../common/lib/logger.ts';
import type { NotificationDataMap, NotificationName } from '../../common/protocol/messages.ts';

/** How a conference reaches the session of one participant (the signalling edge implements it). */
export interface ParticipantSink {
  /** Sends a notification; never throws (a closed socket drops it). */
  notify<N extends NotificationName>(method: N, data: NotificationDataMap[N]): void;
}

/** Options the registry passes to Conference.create(). */
export interface ConferenceOptions {
  readonly id: ConferenceId;
  readonly maxParticipants: number;
  readonly maxProducersPerParticipant: number;
  readonly initialAvailableOutgoingBitrate: number;
  readonly maxIncomingBitrate: number;
  readonly activeSpeakerIntervalMs: number;
  readonly logger: Logger;
}

/** Snapshot for the admin dump and tests. */
export interface ConferenceDump {
  id: ConferenceId;
  routerId: string;
  closed: boolean;
  participants: Array<{
    id: ParticipantId;
    displayName: string;
    transports: string[];
    producers: string[];
    consumers: string[];
  }>;
}
