// A tiny element builder and the widget's icons. Elements are built with the DOM API only:
// no innerHTML (nothing a display name contains can become markup) and no style
// attributes (the CSP allows stylesheets from our origin only; layout is in styles.css).

/** Children h() accepts; falsy ones are skipped. */
export type Child = Node | string | null | undefined | false;

/** Properties of h(). */
export interface ElementProps {
  readonly class?: string;
  readonly text?: string;
  /** Attributes; `false`/`undefined` leave them out, `true` sets them empty. */
  readonly attrs?: Readonly<Record<string, string | number | boolean | undefined>>;
  readonly on?: { readonly [K in keyof HTMLElementEventMap]?: (event: HTMLElementEventMap[K]) => void };
}

/** Creates an element. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: ElementProps = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (props.class) element.className = props.class;
  if (props.text !== undefined) element.textContent = props.text;
  for (const [name, value] of Object.entries(props.attrs ?? {})) {
    if (value === false || value === undefined) continue;
    element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const [type, listener] of Object.entries(props.on ?? {})) element.addEventListener(type, listener as EventListener);
  for (const child of children) if (child) element.append(child);
  return element;
}

/** Sets or removes an attribute. */
export function setAttr(element: Element, name: string, value: string | boolean | undefined): void {
  if (value === false || value === undefined) element.removeAttribute(name);
  else element.setAttribute(name, value === true ? '' : value);
}

/** Icon names. */
export type IconName = 'mic' | 'micOff' | 'camera' | 'cameraOff' | 'screen' | 'screenStop' | 'hangup' | 'settings' | 'lock' | 'lockOpen' | 'clock' | 'warning' | 'sound';

// 24×24 line icons, drawn for this widget: [path data, filled?] per shape.
const ICONS: Readonly<Record<IconName, ReadonlyArray<readonly [string, boolean]>>> = {
  mic: [['M12 3a3 3 0 0 0-3 3v6a3 3 0 0 0 6 0V6a3 3 0 0 0-3-3z', false], ['M5.5 11a6.5 6.5 0 0 0 13 0M12 17.5V21M9 21h6', false]],
  micOff: [['M15 10V6a3 3 0 0 0-5.6-1.5M9 9v3a3 3 0 0 0 4.8 2.4', false], ['M5.5 11a6.5 6.5 0 0 0 10.6 5M18.5 11a6.5 6.5 0 0 1-.6 2.7M12 17.5V21M9 21h6M3 3l18 18', false]],
  camera: [['M4 6.5h9a2 2 0 0 1 2 2v7a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2v-7a2 2 0 0 1 2-2z', false], ['M15 10.5l6-3.5v10l-6-3.5z', false]],
  cameraOff: [['M8.5 6.5H13a2 2 0 0 1 2 2v4.5M15 17a2 2 0 0 1-2 .5H4a2 2 0 0 1-2-2v-7a2 2 0 0 1 1.5-2', false], ['M15 10.5l6-3.5v10l-2.5-1.5M3 3l18 18', false]],
  screen: [['M4 4h16a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2zM8 21h8M12 17v4', false], ['M12 14V8M9 10.5 12 7.5l3 3', false]],
  screenStop: [['M4 4h16a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2zM8 21h8M12 17v4', false], ['M9.5 8l5 5M14.5 8l-5 5', false]],
  hangup: [['M2.5 13.5c5.5-5 13.5-5 19 0l-2.2 3.2-4.1-1.2v-2.7a10.5 10.5 0 0 0-6.4 0v2.7l-4.1 1.2z', true]],
  settings: [['M4 7h9M17 7h3M4 12h3M11 12h9M4 17h11M19 17h1', false], ['M15 5v4M9 10v4M17 15v4', false]],
  lock: [['M6 11h12a1 1 0 0 1 1 1v8a1 1 0 0 1-1 1H6a1 1 0 0 1-1-1v-8a1 1 0 0 1 1-1zM8 11V7.5a4 4 0 0 1 8 0V11', false]],
  lockOpen: [['M6 11h12a1 1 0 0 1 1 1v8a1 1 0 0 1-1 1H6a1 1 0 0 1-1-1v-8a1 1 0 0 1 1-1zM8 11V7.5a4 4 0 0 1 7.7-1.5', false]],
  clock: [['M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18zM12 7v5l3 2', false]],
  warning: [['M12 3.5 2.5 20h19zM12 10v4.5M12 17.2v.3', false]],
  sound: [['M4 9h4l5-4v14l-5-4H4z', false], ['M16.5 9a4 4 0 0 1 0 6M19 6.5a7.5 7.5 0 0 1 0 11', false]],
};

const SVG_NS = 'http://www.w3.org/2000/svg';

/** An icon as inline SVG, hidden from assistive technology (the control carries the label). */
export function icon(name: IconName): SVGSVGElement {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.classList.add('icon');
  for (const [d, filled] of ICONS[name]) {
    const path = document.createElementNS(SVG_NS, 'path');
    path.setAttribute('d', d);
    path.classList.add(filled ? 'icon-fill' : 'icon-line');
    svg.append(path);
  }
  return svg;
}

/** Up to two initials of a name, for an avatar. */
export function initials(name: string): string {
  const words = name.replace(/^@/, '').split(/[\s:._-]+/).filter(Boolean);
  const letters = words.length > 1 ? [words[0], words[1]] : [words[0]];
  return letters.map((word) => [...(word ?? '')][0] ?? '').join('').toUpperCase() || '?';
}

/** Avatar colours in styles.css (`.avatar-0` … `.avatar-7`). */
export const AVATAR_COLOURS = 8;

/** A stable colour class index for a user, so their avatar keeps its colour. */
export function colourOf(id: string): number {
  let hash = 0;
  for (const char of id) hash = (hash * 31 + (char.codePointAt(0) ?? 0)) >>> 0;
  return hash % AVATAR_COLOURS;
}
