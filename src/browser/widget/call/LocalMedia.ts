// This device's camera, microphone and shared screen: acquiring them (with the devices the
// person chose, remembered in localStorage), listing devices, and stopping everything. The
// call publishes what this gives it; a device that cannot be had is a notice, not a failure:
// the person still sees and hears the others.

import { TypedEmitter } from '../../../common/lib/TypedEmitter.ts';
import { WidgetError } from '../errors.ts';

/** Chosen devices (deviceId per kind; undefined: the system default). */
export interface DeviceChoice {
  readonly audioinput?: string | undefined;
  readonly videoinput?: string | undefined;
  readonly audiooutput?: string | undefined;
}

/** Events of LocalMedia. */
export type LocalMediaEvents = {
  /** Devices were plugged in or out. */
  devicesChanged: [];
  /** The shared screen ended from outside (the browser's "Stop sharing"). */
  screenEnded: [];
};

const STORAGE_KEY = 'matrix-sfu.widget.devices';

/** Camera capture: 720p at up to 30 fps; simulcast gives receivers smaller layers. */
const CAMERA_CONSTRAINTS: MediaTrackConstraints = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };
/** Speech processing on: this is a meeting, not music. */
const MICROPHONE_CONSTRAINTS: MediaTrackConstraints = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };

function loadChoice(): DeviceChoice {
  try {
    const parsed: unknown = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? '{}');
    if (typeof parsed !== 'object' || parsed === null) return {};
    const pick = (key: string): string | undefined => {
      const value = (parsed as Record<string, unknown>)[key];
      return typeof value === 'string' && value.length > 0 && value.length < 512 ? value : undefined;
    };
    return { audioinput: pick('audioinput'), videoinput: pick('videoinput'), audiooutput: pick('audiooutput') };
  } catch {
    return {};
  }
}

/** Owns local tracks; the caller publishes them. */
export class LocalMedia extends TypedEmitter<LocalMediaEvents> {
  #microphone: MediaStreamTrack | undefined;
  #camera: MediaStreamTrack | undefined;
  #screen: MediaStreamTrack | undefined;
  #choice: DeviceChoice = loadChoice();
  readonly #onDeviceChange = (): void => void this.safeEmit('devicesChanged');

  constructor() {
    super();
    navigator.mediaDevices?.addEventListener('devicechange', this.#onDeviceChange);
  }

  get microphone(): MediaStreamTrack | undefined {
    return this.#microphone;
  }

  get camera(): MediaStreamTrack | undefined {
    return this.#camera;
  }

  get screen(): MediaStreamTrack | undefined {
    return this.#screen;
  }

  get choice(): DeviceChoice {
    return this.#choice;
  }

  /** Whether this browser can share a screen at all. */
  get canShareScreen(): boolean {
    return typeof navigator.mediaDevices?.getDisplayMedia === 'function';
  }

  /**
   * Opens microphone and camera with one permission prompt; if that fails for lack of a
   * device, tries each alone. Returns the error to show, if anything is missing.
   */
  async start(): Promise<WidgetError | undefined> {
    try {
      const stream = await this.#getUserMedia(true, true);
      this.#microphone = stream.getAudioTracks()[0];
      this.#camera = stream.getVideoTracks()[0];
      return undefined;
    } catch (error) {
      if (error instanceof DOMException && (error.name === 'NotAllowedError' || error.name === 'SecurityError')) {
        return new WidgetError('MEDIA_FAILED', 'camera and microphone refused', { cause: error });
      }
      const [audio, video] = await Promise.allSettled([this.#getUserMedia(true, false), this.#getUserMedia(false, true)]);
      if (audio.status === 'fulfilled') this.#microphone = audio.value.getAudioTracks()[0];
      if (video.status === 'fulfilled') this.#camera = video.value.getVideoTracks()[0];
      return this.#microphone && this.#camera ? undefined : new WidgetError('MEDIA_FAILED', 'a device is missing', { cause: error });
    }
  }

  /**
   * Opens the chosen (or given) device of one kind and makes it current; the previous track
   * of that kind is returned for the caller to unpublish and stop.
   * @throws WidgetError MEDIA_FAILED
   */
  async open(kind: 'audio' | 'video', deviceId?: string): Promise<{ track: MediaStreamTrack; previous: MediaStreamTrack | undefined }> {
    if (deviceId !== undefined) this.choose(kind === 'audio' ? 'audioinput' : 'videoinput', deviceId);
    let stream: MediaStream;
    try {
      stream = await this.#getUserMedia(kind === 'audio', kind === 'video', deviceId !== undefined && deviceId !== '');
    } catch (error) {
      throw new WidgetError('MEDIA_FAILED', `cannot open the ${kind} device`, { cause: error });
    }
    const track = (kind === 'audio' ? stream.getAudioTracks() : stream.getVideoTracks())[0];
    if (!track) throw new WidgetError('MEDIA_FAILED', `no ${kind} track`);
    const previous = kind === 'audio' ? this.#microphone : this.#camera;
    if (kind === 'audio') this.#microphone = track;
    else this.#camera = track;
    return { track, previous };
  }

  /** Remembers a device choice (empty string: system default). */
  choose(kind: keyof DeviceChoice, deviceId: string): void {
    this.#choice = { ...this.#choice, [kind]: deviceId || undefined };
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify(this.#choice));
    } catch {
      // Storage may be blocked (third-party iframe); the choice then lasts for this call only.
    }
  }

  /**
   * Asks the person for a screen (the browser's picker). Resolves undefined when they cancel.
   * @throws WidgetError SCREEN_SHARE_FAILED
   */
  async startScreen(): Promise<MediaStreamTrack | undefined> {
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15, max: 30 } }, audio: false });
    } catch (error) {
      if (error instanceof DOMException && error.name === 'NotAllowedError') return undefined;
      throw new WidgetError('SCREEN_SHARE_FAILED', 'getDisplayMedia failed', { cause: error });
    }
    const track = stream.getVideoTracks()[0];
    if (!track) throw new WidgetError('SCREEN_SHARE_FAILED', 'no screen track');
    // Text and slides: keep detail, drop frames when the link is tight.
    track.contentHint = 'detail';
    track.addEventListener('ended', () => {
      if (this.#screen !== track) return;
      this.#screen = undefined;
      this.safeEmit('screenEnded');
    });
    this.#screen = track;
    return track;
  }

  /** Stops the shared screen (no `screenEnded`). */
  stopScreen(): void {
    this.#screen?.stop();
    this.#screen = undefined;
  }

  /** Input and output devices, labelled once permission was granted. */
  async devices(): Promise<MediaDeviceInfo[]> {
    return (await navigator.mediaDevices?.enumerateDevices().catch(() => [])) ?? [];
  }

  /** Stops every track and forgets them. */
  stopAll(): void {
    for (const track of [this.#microphone, this.#camera, this.#screen]) track?.stop();
    this.#microphone = this.#camera = this.#screen = undefined;
    navigator.mediaDevices?.removeEventListener('devicechange', this.#onDeviceChange);
  }

  /** `exact`: the person just picked the device, so another one will not do. */
  #getUserMedia(audio: boolean, video: boolean, exact = false): Promise<MediaStream> {
    if (!navigator.mediaDevices?.getUserMedia) return Promise.reject(new DOMException('no mediaDevices', 'NotFoundError'));
    const device = (id: string | undefined): MediaTrackConstraints => (id ? { deviceId: exact ? { exact: id } : { ideal: id } } : {});
    return navigator.mediaDevices.getUserMedia({
      audio: audio ? { ...MICROPHONE_CONSTRAINTS, ...device(this.#choice.audioinput) } : false,
      video: video ? { ...CAMERA_CONSTRAINTS, ...device(this.#choice.videoinput) } : false,
    });
  }
}
