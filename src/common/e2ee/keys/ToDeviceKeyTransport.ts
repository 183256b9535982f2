// Sends and receives media keys as Olm-encrypted to-device events `io.element.call.encryption_keys`
// (README.md, "Wire format"), the transport matrix-js-sdk's own MatrixRTC ToDeviceKeyTransport uses.
// Keys go device to device; the SFU never sees them.
//
// Receiving is stricter than js-sdk (whose code leaves both checks as TODOs): a key counts only
// if it arrived Olm-encrypted, its envelope sender equals the Olm sender, and its
// `member.claimed_device_id` equals the Olm sender device. js-sdk listens to the deprecated
// ClientEvent.ToDeviceEvent, which cannot tell who encrypted; we listen to
// ClientEvent.ReceivedToDeviceMessage, whose `encryptionInfo` (Rust crypto) carries the Olm
// sender and sender device. A RoomWidgetClient (widget mode) emits only ToDeviceEvent, marked
// encrypted when the host says so and without the sender device: `receiveMode: 'widget'` trusts
// the host's decryption and takes the claimed device (ReceivedCallKey.deviceVerified = false).
//
// Which memberships exist, parking, ordering and installation are the key manager's business:
// this file turns events into ReceivedCallKey values or KeyRejections, through injected callbacks.

import type { ClientEvent, MatrixEvent, ReceivedToDeviceMessage } from 'matrix-js-sdk';
import type { Logger } from '../../lib/logger.ts';
import { silentLogger } from '../../lib/logger.ts';
import { systemClock } from './clock.ts';
import { CALL_ENCRYPTION_KEYS_EVENT_TYPE } from './constants.ts';
import { buildEncryptionKeysContent, parseEncryptionKeysContent } from './encryptionKeysContent.ts';
import { KeyDistributionError } from './errors.ts';
import type { KeyRejection, KeyRejectionReason } from './errors.ts';
import type { KeyClock, KeyTransportClient, OwnKeyIdentity, ReceivedCallKey } from './types.ts';

// Values of js-sdk's ClientEvent enum; written out so this module needs js-sdk's types only.
const RECEIVED_TO_DEVICE_MESSAGE = 'receivedToDeviceMessage' as ClientEvent.ReceivedToDeviceMessage;
const TO_DEVICE_EVENT = 'toDeviceEvent' as ClientEvent.ToDeviceEvent;

/**
 * Where received keys come from. `olm` (default): ClientEvent.ReceivedToDeviceMessage of a
 * client with Rust crypto; the sender device is Olm-verified. `widget`: ClientEvent.ToDeviceEvent
 * of a RoomWidgetClient; encryption is vouched for by the host client, the device is claimed.
 */
export type KeyReceiveMode = 'olm' | 'widget';

/** A device that should receive our key. */
export interface KeyTarget {
  readonly userId: string;
  readonly deviceId: string;
}

/** Options of {@link ToDeviceKeyTransport}. */
export interface ToDeviceKeyTransportOptions {
  readonly client: KeyTransportClient;
  /** The call's room: sent as `room_id`, and required of received keys. */
  readonly roomId: string;
  readonly own: OwnKeyIdentity;
  /** Called for each key that passed every transport check. */
  readonly onKey: (key: ReceivedCallKey) => void;
  /** Called for each key event that was dropped. */
  readonly onRejected: (rejection: KeyRejection) => void;
  /** Default `olm`; see {@link KeyReceiveMode} for the trade-off. */
  readonly receiveMode?: KeyReceiveMode;
  /** Default: the system clock (for `sent_ts` and receive times). */
  readonly clock?: KeyClock;
  /** Default: silent. Never receives key bytes. */
  readonly logger?: Logger;
}

/** What {@link ToDeviceKeyTransport.sendKey} did. */
export type SendKeyOutcome = 'sent' | 'no-targets';

/** The to-device key transport of one call (one room) and one own device. */
export class ToDeviceKeyTransport {
  readonly #client: KeyTransportClient;
  readonly #roomId: string;
  readonly #own: OwnKeyIdentity;
  readonly #onKey: (key: ReceivedCallKey) => void;
  readonly #onRejected: (rejection: KeyRejection) => void;
  readonly #receiveMode: KeyReceiveMode;
  readonly #clock: KeyClock;
  readonly #logger: Logger;
  #started = false;

  constructor(options: ToDeviceKeyTransportOptions) {
    this.#client = options.client;
    this.#roomId = options.roomId;
    this.#own = options.own;
    this.#onKey = options.onKey;
    this.#onRejected = options.onRejected;
    this.#receiveMode = options.receiveMode ?? 'olm';
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger();
  }

  /** Starts listening for key events. Idempotent. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    if (this.#receiveMode === 'olm') this.#client.on(RECEIVED_TO_DEVICE_MESSAGE, this.#onReceivedToDeviceMessage);
    else this.#client.on(TO_DEVICE_EVENT, this.#onToDeviceEvent);
  }

  /** Stops listening. Idempotent. */
  stop(): void {
    if (!this.#started) return;
    this.#started = false;
    if (this.#receiveMode === 'olm') this.#client.off(RECEIVED_TO_DEVICE_MESSAGE, this.#onReceivedToDeviceMessage);
    else this.#client.off(TO_DEVICE_EVENT, this.#onToDeviceEvent);
  }

  /**
   * Sends `key` at `index`, Olm-encrypted, to every target except our own device. Resolves
   * `no-targets` without sending when none remains. js-sdk's crypto skips devices whose keys it
   * does not know, without an error (devices of users sharing an encrypted room are known).
   * @throws KeyDistributionError `not-supported` (widget driver without encrypted to-device) or `send-failed`.
   */
  async sendKey(index: number, key: Uint8Array, targets: readonly KeyTarget[]): Promise<SendKeyOutcome> {
    const devices = targets
      .filter((target) => !(target.userId === this.#own.userId && target.deviceId === this.#own.deviceId))
      .map((target) => ({ userId: target.userId, deviceId: target.deviceId }));
    if (devices.length === 0) return 'no-targets';
    const content = buildEncryptionKeysContent({
      roomId: this.#roomId,
      memberId: this.#own.memberId,
      deviceId: this.#own.deviceId,
      index,
      key,
      sentTs: this.#clock.now(),
    });
    try {
      await this.#client.encryptAndSendToDevice(CALL_ENCRYPTION_KEYS_EVENT_TYPE, devices, content);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      // The widget driver's refusal, recognised as js-sdk's ToDeviceKeyTransport does.
      if ((message.includes('unknown variant') && message.includes('send_to_device')) || message.includes('not supported')) {
        throw new KeyDistributionError('not-supported', 'the widget driver cannot send encrypted to-device messages', { cause: error });
      }
      throw new KeyDistributionError('send-failed', `sending key index ${index} to ${devices.length} devices failed`, { cause: error });
    }
    this.#logger.debug('key sent', { keyIndex: index, devices: devices.length });
    return 'sent';
  }

  readonly #onReceivedToDeviceMessage = (payload: ReceivedToDeviceMessage): void => {
    const { message, encryptionInfo } = payload;
    if (message.type !== CALL_ENCRYPTION_KEYS_EVENT_TYPE) return;
    const userId = message.sender;
    if (encryptionInfo === null) {
      this.#reject('not-encrypted', userId, undefined, 'key event arrived in clear');
      return;
    }
    if (encryptionInfo.sender !== userId) {
      this.#reject('sender-mismatch', userId, undefined, 'envelope sender differs from the Olm sender');
      return;
    }
    const deviceId = encryptionInfo.senderDevice;
    if (deviceId === undefined || deviceId === null || deviceId.length === 0) {
      this.#reject('unverified-device', userId, undefined, 'Olm did not name the sender device');
      return;
    }
    this.#accept(message.content, userId, deviceId, true);
  };

  readonly #onToDeviceEvent = (event: MatrixEvent): void => {
    if (event.getType() !== CALL_ENCRYPTION_KEYS_EVENT_TYPE) return;
    const userId = event.getSender();
    if (userId === undefined || userId.length === 0) {
      this.#reject('malformed', undefined, undefined, 'key event without sender');
      return;
    }
    if (!event.isEncrypted()) {
      this.#reject('not-encrypted', userId, undefined, 'key event arrived in clear');
      return;
    }
    this.#accept(event.getContent(), userId, undefined, false);
  };

  /** Content checks shared by both modes; `olmDevice` undefined means widget mode. */
  #accept(content: unknown, userId: string, olmDevice: string | undefined, deviceVerified: boolean): void {
    const parsed = parseEncryptionKeysContent(content, this.#roomId);
    if (!parsed.ok) {
      const [first] = parsed.faults;
      this.#reject(first?.reason ?? 'malformed', userId, olmDevice, parsed.faults.map((fault) => fault.message).join('; '));
      return;
    }
    const { claimedDeviceId } = parsed.value;
    if (olmDevice !== undefined && claimedDeviceId !== olmDevice) {
      this.#reject('device-mismatch', userId, olmDevice, 'member.claimed_device_id differs from the Olm sender device');
      return;
    }
    const deviceId = olmDevice ?? claimedDeviceId;
    if (userId === this.#own.userId && deviceId === this.#own.deviceId) {
      this.#reject('own-device', userId, deviceId, 'key event from our own device');
      return;
    }
    this.#onKey({
      userId,
      deviceId,
      deviceVerified,
      memberId: parsed.value.memberId ?? `${userId}:${deviceId}`,
      index: parsed.value.index,
      key: parsed.value.key,
      sentTs: parsed.value.sentTs,
      receivedAtMs: this.#clock.now(),
    });
  }

  #reject(reason: KeyRejectionReason, userId: string | undefined, deviceId: string | undefined, detail: string): void {
    this.#logger.debug('key event rejected', { reason, userId, deviceId, detail });
    this.#onRejected({ reason, userId, deviceId, detail });
  }
}
