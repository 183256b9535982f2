// Public entry of the browser client library: the client, its publication
// handle, event and option types, and the error classes callers branch on.

export { SfuClient } from './SfuClient.ts';
export { LocalPublication } from './LocalPublication.ts';
export {
  SfuClientError,
  RequestError,
  RequestTimeoutError,
  ConnectionClosedError,
  InvalidStateError,
  type ClientErrorCode,
  type LocalErrorCode,
} from './errors.ts';
export type { SfuClientEvents, TrackAddedEvent, TrackRemovedEvent, ReconnectingEvent } from './events.ts';
export type { MediaPath } from './mediaPath.ts';
export type {
  ClientLogger,
  EncodedTransforms,
  JoinOptions,
  JoinResult,
  PublishOptions,
  ReceiverTransformInfo,
  RemoteTrack,
  SenderTransformInfo,
  SfuClientOptions,
} from './types.ts';
export { SIMULCAST_ENCODINGS } from './constants.ts';
export { PROTOCOL_NAME } from '../../common/protocol/messages.ts';
export { CLOSE_CODES } from '../../common/protocol/closeCodes.ts';
