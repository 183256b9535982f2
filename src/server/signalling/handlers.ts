// One small handler per request method (no giant switch): each receives the
// session's context and the already-parsed data, and calls the conference.

import { InvalidStateError } from '../../common/lib/errors.ts';
import type { AdmissionTicket } from '../auth/Admission.ts';
import type { Conference } from '../conference/Conference.ts';
import type { ConferenceRegistry } from '../conference/ConferenceRegistry.ts';
import type { ParticipantSink } from '../conference/types.ts';
import type { RtpCapabilities } from '../media/types.ts';
import type { RequestData, RequestMethod, ResponseDataMap } from '../../common/protocol/messages.ts';

/** What a handler may touch: the session's own state and the registry. */
export interface HandlerContext {
  readonly ticket: AdmissionTicket;
  readonly registry: ConferenceRegistry;
  readonly sink: ParticipantSink;
  /** Conference this session uses (set by the first request that needs it). */
  conference: Conference | undefined;
  joined: boolean;
  /** Asks the session to close normally once the current reply is sent. */
  requestClose(): void;
}

type Handler<M extends RequestMethod> = (ctx: HandlerContext, data: RequestData<M>) => Promise<ResponseDataMap[M]>;
type HandlerTable = { [M in RequestMethod]: Handler<M> };

async function conferenceOf(ctx: HandlerContext): Promise<Conference> {
  if (ctx.conference && !ctx.conference.closed) return ctx.conference;
  if (ctx.joined) throw new InvalidStateError('conference ended', 'NOT_JOINED');
  ctx.conference = await ctx.registry.getOrCreate(ctx.ticket.conferenceId);
  return ctx.conference;
}

function joined(ctx: HandlerContext): Conference {
  if (!ctx.joined || !ctx.conference) throw new InvalidStateError('join first', 'NOT_JOINED');
  return ctx.conference;
}

const empty = {} as Record<string, never>;

/** Handler of every request method. */
export const HANDLERS: HandlerTable = {
  async getRouterRtpCapabilities(ctx) {
    return { rtpCapabilities: (await conferenceOf(ctx)).rtpCapabilities() };
  },
  async join(ctx, data) {
    if (ctx.joined) throw new InvalidStateError('already joined', 'ALREADY_JOINED');
    const input = {
      participantId: ctx.ticket.participantId,
      displayName: data.displayName ?? ctx.ticket.displayName,
      rtpCapabilities: data.rtpCapabilities as RtpCapabilities,
      autoSubscribe: data.autoSubscribe ?? true,
      sink: ctx.sink,
    };
    let conference = await conferenceOf(ctx);
    let result;
    try {
      result = await conference.join(input);
    } catch (error) {
      // The conference may have closed between lookup and join (last leaver): retry once on a fresh one.
      if (!conference.closed) throw error;
      ctx.conference = undefined;
      conference = await conferenceOf(ctx);
      result = await conference.join(input);
    }
    ctx.joined = true;
    return result;
  },
  async leave(ctx) {
    const conference = joined(ctx);
    await conference.leave(ctx.ticket.participantId, 'left');
    ctx.joined = false;
    ctx.requestClose();
    return empty;
  },
  async createTransport(ctx, data) {
    return joined(ctx).createTransport(ctx.ticket.participantId, data);
  },
  async connectTransport(ctx, data) {
    await joined(ctx).connectTransport(ctx.ticket.participantId, data);
    return empty;
  },
  async restartIce(ctx, data) {
    return joined(ctx).restartIce(ctx.ticket.participantId, data);
  },
  async produce(ctx, data) {
    return joined(ctx).produce(ctx.ticket.participantId, data);
  },
  async closeProducer(ctx, data) {
    await joined(ctx).closeProducer(ctx.ticket.participantId, data);
    return empty;
  },
  async pauseProducer(ctx, data) {
    await joined(ctx).pauseProducer(ctx.ticket.participantId, data);
    return empty;
  },
  async resumeProducer(ctx, data) {
    await joined(ctx).resumeProducer(ctx.ticket.participantId, data);
    return empty;
  },
  async consume(ctx, data) {
    return joined(ctx).consume(ctx.ticket.participantId, data);
  },
  async resumeConsumer(ctx, data) {
    await joined(ctx).resumeConsumer(ctx.ticket.participantId, data);
    return empty;
  },
  async pauseConsumer(ctx, data) {
    await joined(ctx).pauseConsumer(ctx.ticket.participantId, data);
    return empty;
  },
  async setConsumerPreferredLayers(ctx, data) {
    await joined(ctx).setConsumerPreferredLayers(ctx.ticket.participantId, data);
    return empty;
  },
  async reportFirstMedia(ctx, data) {
    await joined(ctx).reportFirstMedia(ctx.ticket.participantId, data);
    return empty;
  },
};
