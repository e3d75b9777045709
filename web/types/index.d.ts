// Types of Visitrail's `window.analytics`: the object the tag (loader.js) installs, the same calls
// and answers as in README.md, "The API". Served beside the tag as /analytics/visitrail.d.ts, and
// this folder is an npm package of the declarations alone (package.json: "types").
//
//   <script src="https://collect.example.com/analytics/loader.js" data-write-key="KEY"></script>
//   /// <reference types="visitrail" />   (or: import type { Analytics } from "visitrail")
//   analytics.identify("user-42", { plan: "pro" });

/** What JSON can carry: anything else in traits or properties is dropped, with one console error. */
export type JSONValue = string | number | boolean | null | JSONValue[] | { [key: string]: JSONValue };

/** Traits of a user or a group: merged key by key, new keys added, none removed. */
export type Traits = Record<string, JSONValue>;

/** Properties of a track or page event. */
export type Properties = Record<string, JSONValue>;

/** The last argument of every call: merged into the event. */
export interface CallOptions {
  context?: Record<string, JSONValue>;
  integrations?: Record<string, JSONValue>;
}

export interface IdentifyOptions extends CallOptions {
  /** A signed identity token for this user, issued by the site's server (README, "Trust"). */
  identityToken?: string;
  /** Set-once traits: a key keeps the first value it was given, on every device (README, "Identity"). */
  setOnce?: Traits;
}

export interface AliasOptions extends CallOptions {
  previousId?: string;
}

export interface ResetOptions {
  /** Keep the visitor ID (device continuity); the user, traits, group and session still go. */
  keepAnonymousId?: boolean;
}

/** Getters answer null until the SDK is up (and while consent is pending). */
export interface User {
  anonymousId(): string | null;
  id(): string | null;
  traits(): Traits | null;
}

export interface Session {
  id(): string | null;
}

export interface Consent {
  /** Store and send from now on, the held calls with their own times first (data-consent="pending"). */
  grant(): void;
  /** Drop the held calls and everything after. */
  deny(): void;
}

/** window.analytics. No call throws into the page; a call that cannot be made logs one console error. */
export interface Analytics {
  identify(userId: string | null, traits?: Traits, options?: IdentifyOptions): void;
  identify(traits: Traits, options?: IdentifyOptions): void;
  track(event: string, properties?: Properties, options?: CallOptions): void;
  page(name?: string | null, properties?: Properties, options?: CallOptions): void;
  page(properties: Properties, options?: CallOptions): void;
  group(groupId: string, traits?: Traits, options?: CallOptions): void;
  alias(userId: string, previousId?: string | null, options?: AliasOptions): void;
  /** Sign-out: forgets user, traits, group, visitor ID and session. */
  reset(options?: ResetOptions): void;
  /** A new session, the same identity. */
  rotate(): void;
  /** Adopt a visitor ID made by your server. */
  setAnonymousId(anonymousId: string): void;
  user(): User;
  session(): Session;
  /** Resolves to true once everything queued so far is acknowledged, false if given up. */
  flush(): Promise<boolean>;
  /** Runs the callback once the SDK is up; before and after boot alike. */
  ready(callback?: () => void): Promise<void>;
  /** Console logging of every event built and every send's outcome. */
  debug(on?: boolean): void;
  /** `url` with a `vt_link` parameter carrying this visitor and session to another of the site's
   * domains (README, "One person across domains"); before the SDK is up, `url` as it is. */
  decorate(url: string): string;
  consent: Consent;
}

/** The tag's data-* attributes, as `script.dataset` names them (README, "The tag"). */
export interface TagOptions {
  writeKey: string;
  endpoint?: string;
  idStorage?: "localStorage" | "cookie" | "memory";
  domain?: string;
  persistUser?: string;
  sessionTimeout?: string;
  autoPage?: string;
  flushAt?: string;
  flushInterval?: string;
  debug?: string;
  consent?: "pending" | "granted";
  respectDnt?: string;
  identityToken?: string;
  runtime?: "mpy" | "py" | "brython";
  /** Comma-separated domains whose links carry the visitor (the linker decorates them at click time). */
  linkDomains?: string;
  /** Seconds a link's visitor may be taken after the click (default 120). */
  linkMaxAge?: string;
}

declare global {
  interface Window {
    analytics: Analytics;
  }
  // The tag runs before the page's own scripts: `analytics` is a global of the page.
  var analytics: Analytics;
}
