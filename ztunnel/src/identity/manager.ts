// The identity manager (DESIGN §5, §7): one workload certificate per service account with pods on
// this node, fetched on demand with priority, refreshed at half-life, and handed out as one
// MeshTlsContext per certificate version. See README.md in this folder for the decisions.
import { EventEmitter } from "node:events";
import { X509Certificate } from "node:crypto";
import {
  Backoff,
  isWeftError,
  weftError,
  type BackoffOptions,
  type Logger,
  type WeftError,
} from "@weft/core";
import { parseIdentity } from "@weft/state";
import { createMeshTlsContext, type MeshTlsContext } from "../tls/context.js";
import type { CertificateIssuer } from "./ca-client.js";
import { certificateBlocks, inspectIssuedChain, type IssuedCertificate } from "./chain.js";
import { csrPublicKeyDer, generateKeyAndCsr } from "./csr.js";
import { FetchQueue, type FetchPriority } from "./fetch-queue.js";

export const DEFAULT_CERT_TTL_SECONDS = 24 * 3600;
export const DEFAULT_MAX_CONCURRENT_FETCHES = 3;
/** First retry within a second, then doubling up to 30 s: a CA outage costs the CA little. */
export const DEFAULT_RETRY_BACKOFF: BackoffOptions = { baseMs: 1000, maxMs: 30_000, jitter: "full" };
/** Refresh when half of the remaining lifetime is left, minus up to this fraction (jitter). */
const REFRESH_JITTER_FRACTION = 0.1;
/** setTimeout's limit (~24.8 days); longer waits are chained. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export type CertificateState = "fetching" | "valid" | "refreshing" | "failed";

/** One identity as the admin endpoint shows it. Times are ISO 8601. */
export interface CertificateStatus {
  readonly identity: string;
  /**
   * fetching: no certificate yet, a fetch is queued or running. valid: a certificate is in use and
   * nothing is pending. refreshing: a certificate is in use and its replacement is being fetched
   * (or retried after a failure). failed: no usable certificate, waiting to retry.
   */
  readonly state: CertificateState;
  readonly serial?: string;
  readonly notBefore?: string;
  readonly notAfter?: string;
  /** When the next refresh (or retry) starts. */
  readonly nextAttemptAt?: string;
  /** The last failure since the last success. */
  readonly lastError?: string;
  readonly lastErrorCode?: string;
  /** Failed attempts since the last success. */
  readonly failures: number;
  /** The priority of the queued or running fetch, if any. */
  readonly priority?: FetchPriority;
}

export interface IdentityManagerEvents {
  /**
   * A new context for `identity` is in place: first issuance (`previous` undefined), refresh, or
   * a trust bundle change. Holders swap their reference; `previous` stays usable until it expires.
   */
  rotated: [identity: string, context: MeshTlsContext, previous: MeshTlsContext | undefined];
  /** An attempt failed (it is retried), or a certificate expired without a replacement. */
  failed: [identity: string, error: WeftError];
  /** The roots in use changed; every context has been rebuilt with them. */
  trustBundleChanged: [roots: readonly string[]];
}

export interface IdentityManagerOptions {
  readonly issuer: CertificateIssuer;
  /** Lifetime asked of the CA; default 24 h (DESIGN §5). The CA may cap it. */
  readonly certTtlSeconds?: number;
  /** Roots trusted besides those CA responses carry (PEM), e.g. the mounted weft-ca-root-cert. */
  readonly extraRoots?: readonly string[];
  readonly logger?: Pick<Logger, "debug" | "info" | "warn" | "error">;
  /** CA calls in flight at once; default 3. */
  readonly maxConcurrentFetches?: number;
  /** Clock in ms since the epoch (tests); default Date.now. Timers still run in real time. */
  readonly now?: () => number;
  /** Delays between failed attempts; default 1 s doubling to 30 s, full jitter. */
  readonly retryBackoff?: BackoffOptions;
  /** Source of [0, 1) for jitter (tests); default Math.random. */
  readonly random?: () => number;
  /**
   * How long a root learnt from a CA response stays trusted after no current certificate is
   * signed by it; default twice the certificate TTL. Peers keep certificates of an old root
   * for up to one lifetime after the CA switched, and we may learn of the switch up to half a
   * lifetime late.
   */
  readonly rootRetentionMs?: number;
}

interface Waiter {
  readonly resolve: (context: MeshTlsContext) => void;
  readonly reject: (error: WeftError) => void;
}

interface Installed {
  readonly issued: IssuedCertificate;
  readonly keyPem: string;
  readonly context: MeshTlsContext;
}

interface Entry {
  readonly identity: string;
  installed: Installed | undefined;
  waiters: Waiter[];
  /** True from enqueue until the attempt's result is handled. */
  fetching: boolean;
  lastError: WeftError | undefined;
  failures: number;
  readonly backoff: Backoff;
  /** The pending refresh or retry. */
  timer: { readonly kind: "refresh" | "retry"; readonly at: number; cancel(): void } | undefined;
  expiryTimer: { cancel(): void } | undefined;
}

interface LearntRoot {
  readonly pem: string;
  readonly notAfter: number;
  lastSeen: number;
}

function toWeftError(err: unknown, identity: string): WeftError {
  if (isWeftError(err)) return err;
  return weftError(
    "WEFT_E_INTERNAL",
    `fetching the certificate for ${identity} failed: ${(err as Error)?.message ?? String(err)}`,
    { identity },
    { cause: err },
  );
}

/** The certificates in `pems`, one PEM each; WEFT_E_CONFIG when one does not parse. */
function parseExtraRoots(pems: readonly string[]): string[] {
  const roots = pems.flatMap(certificateBlocks);
  for (const pem of roots) {
    try {
      new X509Certificate(pem);
    } catch (err) {
      throw weftError(
        "WEFT_E_CONFIG",
        `an extra trust root does not parse as a certificate (${(err as Error).message})`,
        undefined,
        { cause: err, fix: "configure the trust bundle file to hold PEM root certificates only" },
      );
    }
  }
  if (roots.length === 0 && pems.some((pem) => pem.trim() !== "")) {
    throw weftError("WEFT_E_CONFIG", "the extra trust roots hold no PEM certificate", undefined, {
      fix: "configure the trust bundle file to hold PEM root certificates (-----BEGIN CERTIFICATE-----)",
    });
  }
  return roots;
}

export class IdentityManager extends EventEmitter<IdentityManagerEvents> {
  readonly #issuer: CertificateIssuer;
  readonly #ttlSeconds: number;
  readonly #logger: IdentityManagerOptions["logger"];
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #retryBackoff: BackoffOptions;
  readonly #rootRetentionMs: number;
  readonly #entries = new Map<string, Entry>();
  readonly #queue: FetchQueue<Entry>;
  /** By SHA-256 fingerprint. */
  readonly #learntRoots = new Map<string, LearntRoot>();
  #extraRoots: readonly string[];
  #bundle: readonly string[] = [];
  #closed = false;

  constructor(options: IdentityManagerOptions) {
    super();
    this.#issuer = options.issuer;
    this.#ttlSeconds = options.certTtlSeconds ?? DEFAULT_CERT_TTL_SECONDS;
    if (!(Number.isInteger(this.#ttlSeconds) && this.#ttlSeconds > 0)) {
      throw weftError(
        "WEFT_E_INVALID_INPUT",
        `certTtlSeconds must be a positive whole number, got ${this.#ttlSeconds}`,
      );
    }
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#retryBackoff = { random: this.#random, ...(options.retryBackoff ?? DEFAULT_RETRY_BACKOFF) };
    this.#rootRetentionMs = options.rootRetentionMs ?? 2 * this.#ttlSeconds * 1000;
    this.#extraRoots = parseExtraRoots(options.extraRoots ?? []);
    this.#bundle = this.#computeBundle();
    this.#queue = new FetchQueue(options.maxConcurrentFetches ?? DEFAULT_MAX_CONCURRENT_FETCHES, (entry) =>
      this.#fetch(entry),
    );
  }

  /**
   * The context for `identity`, for a connection that is waiting: the cached one at once while it
   * is valid, otherwise the result of a high-priority fetch shared by every concurrent caller.
   * Rejects with the fetch's WeftError (the fetch is retried in the background), WEFT_E_ABORTED
   * when the identity is released meanwhile, WEFT_E_UNAVAILABLE once closed.
   */
  get(identity: string): Promise<MeshTlsContext> {
    if (this.#closed) return Promise.reject(this.#closedError(identity));
    let entry: Entry;
    try {
      entry = this.#track(identity);
    } catch (err) {
      return Promise.reject(toWeftError(err, identity));
    }
    const valid = this.#validContext(entry);
    if (valid !== undefined) return Promise.resolve(valid);
    const waiting = new Promise<MeshTlsContext>((resolve, reject) => entry.waiters.push({ resolve, reject }));
    if (entry.fetching) {
      this.#queue.enqueue(entry, "high"); // promotes a queued prefetch; no-op when running
    } else if (entry.timer?.kind !== "retry") {
      // Nothing pending (or only a refresh of a certificate that has since expired): fetch now.
      // A scheduled retry is joined instead: on-path demand must not turn backoff into a hot loop.
      this.#cancelTimer(entry);
      this.#startFetch(entry, "high");
    }
    return waiting;
  }

  /** The valid context for `identity`, if there is one; never starts a fetch. */
  current(identity: string): MeshTlsContext | undefined {
    const entry = this.#entries.get(identity);
    return entry === undefined ? undefined : this.#validContext(entry);
  }

  /**
   * Starts a low-priority fetch for `identity` (a pod of it was enrolled) unless it is already
   * tracked, and keeps it refreshed until `release`. Throws WEFT_E_INVALID_INPUT for a non-SPIFFE id.
   */
  prefetch(identity: string): void {
    if (this.#closed) return;
    if (this.#entries.has(identity)) return;
    this.#startFetch(this.#track(identity), "low");
  }

  /** No pod of `identity` remains on this node: stop refreshing it and drop its certificate. */
  release(identity: string): void {
    const entry = this.#entries.get(identity);
    if (entry === undefined) return;
    this.#entries.delete(identity);
    this.#stopEntry(entry);
    this.#rejectWaiters(
      entry,
      weftError(
        "WEFT_E_ABORTED",
        `the certificate for ${identity} was released while a connection waited for it`,
        { identity },
        { fix: "none needed: the last pod of that service account left this node" },
      ),
    );
    this.#logger?.info({ identity }, "identity released");
  }

  /** The roots every context trusts: the configured extra roots, then those learnt from the CA. */
  trustBundle(): readonly string[] {
    return this.#bundle;
  }

  /** Replaces the configured extra roots (e.g. the mounted trust bundle changed). */
  setExtraRoots(roots: readonly string[]): void {
    this.#extraRoots = parseExtraRoots(roots);
    this.#applyBundle(this.#computeBundle());
  }

  certificates(): CertificateStatus[] {
    return [...this.#entries.values()]
      .map((entry) => this.#status(entry))
      .sort((a, b) => a.identity.localeCompare(b.identity));
  }

  /** Cancels every timer and queued fetch; waiting `get`s reject with WEFT_E_UNAVAILABLE. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.close();
    for (const entry of this.#entries.values()) {
      this.#stopEntry(entry);
      this.#rejectWaiters(entry, this.#closedError(entry.identity));
    }
    this.#entries.clear();
  }

  // --- internals ---

  /**
   * Emits without letting a listener's exception escape: a throwing listener must not turn an
   * installed certificate into a "failed fetch", nor stop the other contexts' rebuild.
   */
  #notify(event: keyof IdentityManagerEvents, emit: () => void): void {
    try {
      emit();
    } catch (err) {
      this.#logger?.error({ err, event }, "an identity manager event listener threw");
    }
  }

  #closedError(identity: string): WeftError {
    return weftError(
      "WEFT_E_UNAVAILABLE",
      `the identity manager is closed; no certificate for ${identity}`,
      { identity },
      { fix: "none needed during shutdown; otherwise the agent closed its identity manager too early" },
    );
  }

  #track(identity: string): Entry {
    const existing = this.#entries.get(identity);
    if (existing !== undefined) return existing;
    if (parseIdentity(identity) === undefined) {
      throw weftError(
        "WEFT_E_INVALID_INPUT",
        `${JSON.stringify(identity)} is not a SPIFFE id`,
        { identity },
        { fix: "pass spiffe://<trust domain>/ns/<namespace>/sa/<service account>" },
      );
    }
    const entry: Entry = {
      identity,
      installed: undefined,
      waiters: [],
      fetching: false,
      lastError: undefined,
      failures: 0,
      backoff: new Backoff(this.#retryBackoff),
      timer: undefined,
      expiryTimer: undefined,
    };
    this.#entries.set(identity, entry);
    return entry;
  }

  #isCurrent(entry: Entry): boolean {
    return !this.#closed && this.#entries.get(entry.identity) === entry;
  }

  #validContext(entry: Entry): MeshTlsContext | undefined {
    const installed = entry.installed;
    if (installed === undefined) return undefined;
    return installed.issued.notAfter.getTime() > this.#now() ? installed.context : undefined;
  }

  #startFetch(entry: Entry, priority: FetchPriority): void {
    entry.fetching = true;
    this.#queue.enqueue(entry, priority);
  }

  async #fetch(entry: Entry): Promise<void> {
    if (!this.#isCurrent(entry)) return;
    const { identity } = entry;
    let result: { issued: IssuedCertificate; keyPem: string } | undefined;
    let failure: WeftError | undefined;
    try {
      const { keyPem, csrPem } = await generateKeyAndCsr(identity);
      const chain = await this.#issuer.issue(identity, csrPem, this.#ttlSeconds);
      // Checked here as well as in the CA client: any issuer's answer must be sound before use.
      const issued = inspectIssuedChain(identity, chain, csrPublicKeyDer(csrPem), new Date(this.#now()));
      result = { issued, keyPem };
    } catch (err) {
      failure = toWeftError(err, identity);
    }
    entry.fetching = false;
    if (!this.#isCurrent(entry)) return; // released or closed meanwhile: discard
    if (result !== undefined) {
      try {
        this.#install(entry, result.issued, result.keyPem);
        return;
      } catch (err) {
        failure = toWeftError(err, identity);
      }
    }
    this.#onFailure(entry, failure!);
  }

  #install(entry: Entry, issued: IssuedCertificate, keyPem: string): void {
    const now = this.#now();
    // Roots first: the new context must trust the root that signed it.
    const rootsBefore = new Map(this.#learntRoots);
    for (const pem of issued.roots) this.#learnRoot(pem, now);
    const bundle = this.#computeBundle(issued);
    let context: MeshTlsContext;
    try {
      context = createMeshTlsContext({ keyPem, certChainPem: issued.certChainPem, trustBundlePem: bundle });
    } catch (err) {
      this.#learntRoots.clear();
      for (const [fp, root] of rootsBefore) this.#learntRoots.set(fp, root);
      throw err;
    }
    const previous = entry.installed?.context;
    entry.installed = { issued, keyPem, context };
    entry.failures = 0;
    entry.lastError = undefined;
    entry.backoff.reset();
    this.#scheduleRefresh(entry, issued, now);
    this.#scheduleExpiry(entry);
    const waiters = entry.waiters;
    entry.waiters = [];
    for (const w of waiters) w.resolve(context);
    this.#logger?.info(
      {
        identity: entry.identity,
        serial: issued.serial,
        notAfter: issued.notAfter.toISOString(),
        nextRefreshAt: new Date(entry.timer?.at ?? now).toISOString(),
      },
      previous === undefined ? "certificate installed" : "certificate rotated",
    );
    this.#notify("rotated", () => this.emit("rotated", entry.identity, context, previous));
    this.#applyBundle(bundle, entry);
  }

  #onFailure(entry: Entry, error: WeftError): void {
    entry.failures++;
    entry.lastError = error;
    this.#rejectWaiters(entry, error);
    const delay = entry.backoff.next();
    this.#setTimer(entry, "retry", this.#now() + delay, () => {
      this.#startFetch(
        entry,
        entry.waiters.length > 0 && this.#validContext(entry) === undefined ? "high" : "low",
      );
    });
    const valid = this.#validContext(entry) !== undefined;
    const fields = {
      identity: entry.identity,
      err: error,
      failures: entry.failures,
      retryInMs: delay,
      ...(valid ? { expiresAt: entry.installed!.issued.notAfter.toISOString() } : {}),
    };
    // With a valid certificate the node keeps working until it expires: a warning. Without one,
    // connections of this identity fail: an error.
    if (valid) this.#logger?.warn(fields, "certificate refresh failed; the current certificate stays in use");
    else
      this.#logger?.error(
        fields,
        "certificate fetch failed; connections of this identity fail until it succeeds",
      );
    this.#notify("failed", () => this.emit("failed", entry.identity, error));
  }

  /**
   * Refresh at half of the lifetime left on arrival, minus up to 10 % jitter. Measured from
   * arrival rather than notBefore: CAs backdate notBefore for clock skew (weft's by a minute),
   * which would otherwise make short-lived certificates look half-spent on arrival.
   */
  #scheduleRefresh(entry: Entry, issued: IssuedCertificate, now: number): void {
    const start = Math.max(now, issued.notBefore.getTime());
    const remaining = issued.notAfter.getTime() - start;
    const fraction = 0.5 - REFRESH_JITTER_FRACTION * this.#random();
    const at = start + Math.max(0, Math.floor(remaining * fraction));
    this.#setTimer(entry, "refresh", at, () => this.#startFetch(entry, "low"));
  }

  /** A certificate that expires without a replacement is reported loudly and stops being served. */
  #scheduleExpiry(entry: Entry): void {
    entry.expiryTimer?.cancel();
    const installed = entry.installed;
    if (installed === undefined) return;
    entry.expiryTimer = this.#longTimeout(installed.issued.notAfter.getTime(), () => {
      entry.expiryTimer = undefined;
      // Compared by certificate: a trust bundle change replaces `installed` with a rebuilt context.
      if (!this.#isCurrent(entry) || entry.installed?.issued !== installed.issued) return;
      entry.installed = undefined;
      const error = weftError(
        "WEFT_E_TLS",
        `the certificate for ${entry.identity} (serial ${installed.issued.serial}) expired at ` +
          `${installed.issued.notAfter.toISOString()} without a replacement` +
          (entry.lastError !== undefined ? ` (last attempt: ${entry.lastError.message})` : ""),
        { identity: entry.identity, serial: installed.issued.serial, failures: entry.failures },
        {
          fix: "connections of this identity fail until the CA issues a new one: fix the cause of the last attempt's failure",
        },
      );
      entry.lastError = error;
      this.#logger?.error(
        { identity: entry.identity, err: error },
        "certificate expired without a replacement",
      );
      this.#notify("failed", () => this.emit("failed", entry.identity, error));
    });
  }

  #setTimer(entry: Entry, kind: "refresh" | "retry", at: number, fire: () => void): void {
    this.#cancelTimer(entry);
    const timeout = this.#longTimeout(at, () => {
      entry.timer = undefined;
      if (this.#isCurrent(entry)) fire();
    });
    entry.timer = { kind, at, cancel: () => timeout.cancel() };
  }

  #cancelTimer(entry: Entry): void {
    entry.timer?.cancel();
    entry.timer = undefined;
  }

  /** A timeout at the absolute time `at` (manager clock), chained past setTimeout's limit. */
  #longTimeout(at: number, fire: () => void): { cancel(): void } {
    let handle: NodeJS.Timeout | undefined;
    const arm = (): void => {
      const delay = at - this.#now();
      if (delay > MAX_TIMER_MS) handle = setTimeout(arm, MAX_TIMER_MS);
      else handle = setTimeout(fire, Math.max(0, delay));
    };
    arm();
    return { cancel: () => clearTimeout(handle) };
  }

  #stopEntry(entry: Entry): void {
    this.#cancelTimer(entry);
    entry.expiryTimer?.cancel();
    entry.expiryTimer = undefined;
    this.#queue.remove(entry);
  }

  #rejectWaiters(entry: Entry, error: WeftError): void {
    const waiters = entry.waiters;
    entry.waiters = [];
    for (const w of waiters) w.reject(error);
  }

  #learnRoot(pem: string, now: number): void {
    const cert = new X509Certificate(pem);
    const known = this.#learntRoots.get(cert.fingerprint256);
    if (known !== undefined) known.lastSeen = now;
    else
      this.#learntRoots.set(cert.fingerprint256, {
        pem,
        notAfter: cert.validToDate.getTime(),
        lastSeen: now,
      });
  }

  /**
   * Extra roots, then learnt roots that are still worth trusting: unexpired, and either signing
   * a current certificate (`incoming` counts as current) or seen within the retention window.
   */
  #computeBundle(incoming?: IssuedCertificate): readonly string[] {
    const now = this.#now();
    const inUse = new Set<string>();
    const noteRoots = (issued: IssuedCertificate): void => {
      for (const pem of issued.roots) inUse.add(new X509Certificate(pem).fingerprint256);
    };
    for (const entry of this.#entries.values()) if (entry.installed) noteRoots(entry.installed.issued);
    if (incoming !== undefined) noteRoots(incoming);
    const seen = new Set<string>();
    const out: string[] = [];
    for (const pem of this.#extraRoots) {
      const fp = new X509Certificate(pem).fingerprint256;
      if (seen.has(fp)) continue;
      seen.add(fp);
      out.push(pem);
    }
    for (const [fp, root] of this.#learntRoots) {
      const retained = inUse.has(fp) || now - root.lastSeen < this.#rootRetentionMs;
      if (root.notAfter <= now || !retained) {
        this.#learntRoots.delete(fp);
        continue;
      }
      if (seen.has(fp)) continue;
      seen.add(fp);
      out.push(root.pem);
    }
    return out;
  }

  /**
   * Makes `bundle` the trust bundle. When it differs from the current one, every context (but
   * `fresh`, built with it already) is rebuilt with it: peers signed by a new root must be
   * accepted by every identity, not only by the one whose refresh brought the root.
   */
  #applyBundle(bundle: readonly string[], fresh?: Entry): void {
    const same = bundle.length === this.#bundle.length && bundle.every((pem, i) => pem === this.#bundle[i]);
    if (same) return;
    this.#bundle = bundle;
    for (const entry of this.#entries.values()) {
      const installed = entry.installed;
      if (entry === fresh || installed === undefined) continue;
      try {
        const context = createMeshTlsContext({
          keyPem: installed.keyPem,
          certChainPem: installed.issued.certChainPem,
          trustBundlePem: bundle,
        });
        entry.installed = { ...installed, context };
        this.#notify("rotated", () => this.emit("rotated", entry.identity, context, installed.context));
      } catch (err) {
        this.#logger?.error(
          { identity: entry.identity, err },
          "cannot rebuild the TLS context with the new trust bundle; the old one stays in use",
        );
      }
    }
    this.#logger?.info({ roots: bundle.length }, "trust bundle changed");
    this.#notify("trustBundleChanged", () => this.emit("trustBundleChanged", bundle));
  }

  #status(entry: Entry): CertificateStatus {
    const installed = this.#validContext(entry) !== undefined ? entry.installed : undefined;
    const pending = entry.fetching || entry.timer?.kind === "retry";
    const state: CertificateState =
      installed !== undefined
        ? pending
          ? "refreshing"
          : "valid"
        : entry.fetching || entry.lastError === undefined
          ? "fetching"
          : "failed";
    // The queue lets go of an item a moment after its result is handled; `fetching` is exact.
    const priority = entry.fetching ? this.#queue.priorityOf(entry) : undefined;
    return {
      identity: entry.identity,
      state,
      ...(installed !== undefined
        ? {
            serial: installed.issued.serial,
            notBefore: installed.issued.notBefore.toISOString(),
            notAfter: installed.issued.notAfter.toISOString(),
          }
        : {}),
      ...(entry.timer !== undefined ? { nextAttemptAt: new Date(entry.timer.at).toISOString() } : {}),
      ...(entry.lastError !== undefined
        ? { lastError: entry.lastError.message, lastErrorCode: entry.lastError.code }
        : {}),
      failures: entry.failures,
      ...(priority !== undefined ? { priority } : {}),
    };
  }
}
