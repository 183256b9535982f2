// One small handler per request method (no giant switch): each receives the
// session's context and the already-parsed data, and calls the participant's
// handle (or, before join, the registry). Wire types become the conference's
// own types here; RTP/DTLS shapes were validated by the protocol schemas and
// are checked again by mediasoup.

import { InvalidStateError } from '../../common/lib/errors.ts';
import type { AdmissionTicket } from '../auth/Admission.ts';
import type { ConferenceRegistry } from '../conference/ConferenceRegistry.ts';
import type { ParticipantHandle } from '../conference/ParticipantHandle.ts';
import type { DtlsParameters, RtpCapabilities, RtpParameters } from '../media/types.ts';
import type { RequestData, RequestMethod, ResponseDataMap, TransportInfo } from '../../common/protocol/messages.ts';
import type { IceServerInfo } from '../../common/protocol/iceServers.ts';

/** What a handler may touch: the session's own state and the registry. */
export interface HandlerContext {
  readonly ticket: AdmissionTicket;
  readonly registry: ConferenceRegistry;
  /** The participant's handle once joined (closed handles stay until the session ends). */
  handle: ParticipantHandle | undefined;
  /** Attaches the session's listeners; runs inside the join task, before any event. */
  readonly attach: (handle: ParticipantHandle) => void;
  /** Asks the session to close normally once the current reply is sent. */
  requestClose(): void;
  /** TURN relays with fresh credentials for the join reply; absent = no TURN configured. */
  readonly iceServers?: (participantId: string) => IceServerInfo[];
}

type Handler<M extends RequestMethod> = (ctx: HandlerContext, data: RequestData<M>) => Promise<ResponseDataMap[M]>;
type HandlerTable = { [M in RequestMethod]: Handler<M> };

function joined(ctx: HandlerContext): ParticipantHandle {
  if (!ctx.handle || ctx.handle.closed) throw new InvalidStateError('join first', 'NOT_JOINED');
  return ctx.handle;
}

const empty = {} as Record<string, never>;

/** Handler of every request method. */
export const HANDLERS: HandlerTable = {
  async getRouterRtpCapabilities(ctx) {
    if (ctx.handle && !ctx.handle.closed) return { rtpCapabilities: ctx.handle.rtpCapabilities() };
    return { rtpCapabilities: (await ctx.registry.getOrCreate(ctx.ticket.conferenceId)).rtpCapabilities() };
  },
  async join(ctx, data) {
    if (ctx.handle) throw new InvalidStateError('already joined', 'ALREADY_JOINED');
    const handle = await ctx.registry.join(
      ctx.ticket.conferenceId,
      {
        participantId: ctx.ticket.participantId,
        displayName: ctx.ticket.displayNameFor ? ctx.ticket.displayNameFor(data.displayName) : (data.displayName ?? ctx.ticket.displayName),
        rtpCapabilities: data.rtpCapabilities as RtpCapabilities,
        autoSubscribe: data.autoSubscribe ?? true,
      },
      ctx.attach,
    );
    ctx.handle = handle;
    const iceServers = ctx.iceServers?.(handle.id);
    return { participantId: handle.id, peers: [...handle.peers], ...(iceServers ? { iceServers } : {}) };
  },
  async leave(ctx) {
    await joined(ctx).leave();
    ctx.requestClose();
    return empty;
  },
  async createTransport(ctx, data) {
    return (await joined(ctx).createTransport(data)) as TransportInfo;
  },
  async connectTransport(ctx, data) {
    await joined(ctx).connectTransport(data.transportId, data.dtlsParameters as DtlsParameters);
    return empty;
  },
  async restartIce(ctx, data) {
    return { iceParameters: await joined(ctx).restartIce(data.transportId) };
  },
  async produce(ctx, data) {
    return joined(ctx).produce({ ...data, rtpParameters: data.rtpParameters as RtpParameters });
  },
  async closeProducer(ctx, data) {
    await joined(ctx).closeProducer(data.producerId);
    return empty;
  },
  async pauseProducer(ctx, data) {
    await joined(ctx).pauseProducer(data.producerId);
    return empty;
  },
  async resumeProducer(ctx, data) {
    await joined(ctx).resumeProducer(data.producerId);
    return empty;
  },
  async consume(ctx, data) {
    return joined(ctx).consume(data.producerId);
  },
  async resumeConsumer(ctx, data) {
    await joined(ctx).resumeConsumer(data.consumerId);
    return empty;
  },
  async resumeConsumers(ctx, data) {
    return { results: await joined(ctx).resumeConsumers(data.consumerIds) };
  },
  async pauseConsumer(ctx, data) {
    await joined(ctx).pauseConsumer(data.consumerId);
    return empty;
  },
  async setConsumerPreferredLayers(ctx, data) {
    await joined(ctx).setConsumerPreferredLayers(data.consumerId, data);
    return empty;
  },
  async reportFirstMedia(ctx, data) {
    await joined(ctx).reportFirstMedia(data.consumerId, data.elapsedMs);
    return empty;
  },
};
