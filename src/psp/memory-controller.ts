/**
 * The memory controller's encryption (AMD SEV), below KVM: a key slot per ASID, loaded by the
 * firmware's ACTIVATE and cleared by DEACTIVATE, and per ASID the encrypted memory its CPUs reach
 * (`EncryptedMemory`, src/cpu/backend.ts). Private pages are ciphertext in memory (the VMM's address
 * space, where the model's system physical address of a page is its host address); the CPUs of a
 * guest work on a plaintext copy of each private page they touch — the model's stand-in for cache
 * lines tagged with the guest's key — decrypted on first use and encrypted back before host
 * software next looks at the page.
 *
 * Coherence with host software: the host address space calls `beforeHostAccess` before software on
 * the host (copy_from_user, copy_to_user, kvm_vcpu_map, the VMM) reads or writes bytes.
 * - Host read of a page with a dirty copy: the copy is encrypted into memory (written back) and
 *   marked clean; the domain's generation is bumped, since a CPU may hold a writable TLB entry to
 *   it and must refill (so its next store marks the page dirty again).
 * - Host write of a page with a copy: written back first if dirty, then dropped (generation bumped):
 *   the guest's next private access decrypts whatever the host left there — garbage when the host
 *   wrote plaintext, as on SEV-ES hardware, which has no integrity protection.
 * The CPU's own path (through the nested page table: HostAddressSpace.frame) is not hooked.
 *
 * One copy per page at a time, whichever ASID made it: another ASID touching the page writes the
 * copy back and drops it first (the coherence across encryption domains later parts enforce in
 * hardware; what it decrypts is then the other key's ciphertext, garbage to it).
 *
 * `flush` writes back every dirty page, for an observer the hook does not reach (a real process, a
 * snapshot of memory taken behind the address space's back).
 */
import type { EncryptedMemory, MemoryEncryption } from '../cpu/backend.js';
import { DEFAULT_CBIT } from '../uapi/ghcb.js';
import type { MemoryCrypt } from './engine.js';
import { XtsEngine } from './xts-engine.js';

const PAGE = 4096;

/** Options of {@link MemoryController}. */
export interface MemoryControllerOptions {
  /** The encryption engine (default: AES-128-XTS per page, tweak = spa). */
  readonly engine?: MemoryCrypt;
  /** The C-bit position (default 51). */
  readonly cbit?: number;
}

/** One page's plaintext as the CPUs of one ASID use it. */
interface Shadow {
  readonly domain: Domain;
  /** The page's system physical address (page aligned). */
  readonly spa: number;
  /** The page in memory (aliasing host memory): where the plaintext is written back, encrypted. */
  frame: Uint8Array;
  readonly plain: Uint8Array;
  /** A CPU may have stored into `plain` since it was last written back. */
  dirty: boolean;
}

/** Encrypt a dirty shadow into its frame and mark it clean. */
function writeBack(s: Shadow): void {
  s.frame.set(s.plain);
  s.domain.engine.encrypt(s.domain.vek, { spa: s.spa, bytes: s.frame });
  s.dirty = false;
}

/** One ASID's encrypted memory while its key is loaded. */
class Domain implements EncryptedMemory {
  #generation = 0;
  #live = true;
  /** This domain's shadows by spa (a subset of `all`). */
  readonly shadows = new Map<number, Shadow>();
  /** Pages the guest has reached through a private access (for debug views: which to decrypt). */
  readonly usedPrivately = new Set<number>();

  constructor(
    readonly asid: number,
    readonly vek: Uint8Array,
    readonly engine: MemoryCrypt,
    /** Every domain's shadows by spa (the controller's). */
    readonly all: Map<number, Shadow>,
  ) {}

  get generation(): number {
    return this.#generation;
  }

  bump(): void {
    this.#generation++;
  }

  /** The key was cleared: the domain serves no more pages. */
  kill(): void {
    this.#live = false;
    this.#generation++;
  }

  page(spa: number, frame: Uint8Array, write: boolean): Uint8Array {
    if (!this.#live) throw new Error(`memory controller: no key loaded for ASID ${this.asid}`);
    if (frame.length !== PAGE)
      throw new RangeError(`memory controller: a frame is one page, not ${frame.length} bytes`);
    const at = spa - (spa % PAGE);
    let s = this.all.get(at);
    if (s !== undefined) {
      if (s.domain === this) {
        // The same memory may come back as another view (a new TLB fill); host software did not
        // touch it since (that would have written the shadow back or dropped it), so it holds.
        s.frame = frame;
        if (write) s.dirty = true;
        return s.plain;
      }
      // Another ASID's copy of this page: back to memory, then gone.
      if (s.dirty) writeBack(s);
      s.domain.drop(s);
    }
    const plain = frame.slice();
    this.engine.decrypt(this.vek, { spa: at, bytes: plain });
    this.usedPrivately.add(at);
    s = { domain: this, spa: at, frame, plain, dirty: write };
    this.all.set(at, s);
    this.shadows.set(at, s);
    return plain;
  }

  flushPage(spa: number): void {
    const s = this.shadows.get(spa - (spa % PAGE));
    if (s === undefined) return;
    if (s.dirty) writeBack(s);
    this.drop(s);
  }

  decrypt(spa: number, bytes: Uint8Array): void {
    this.engine.decrypt(this.vek, { spa, bytes });
  }

  encrypt(spa: number, bytes: Uint8Array): void {
    this.engine.encrypt(this.vek, { spa, bytes });
  }

  /** Forget a shadow (written back already if it had to be) and tell the CPUs. */
  drop(s: Shadow): void {
    this.all.delete(s.spa);
    this.shadows.delete(s.spa);
    this.#generation++;
  }
}

/** The platform's memory controller: key slots by ASID and the encrypted memory behind them. */
export class MemoryController implements MemoryEncryption {
  readonly engine: MemoryCrypt;
  readonly cbit: number;
  readonly #domains = new Map<number, Domain>();
  /** Every domain's shadows by spa: what the host hook looks up. */
  readonly #shadows = new Map<number, Shadow>();

  constructor(opts: MemoryControllerOptions = {}) {
    this.engine = opts.engine ?? new XtsEngine();
    this.cbit = opts.cbit ?? DEFAULT_CBIT;
    if (!Number.isInteger(this.cbit) || this.cbit < 0 || this.cbit > 63)
      throw new RangeError(`memory controller: C-bit ${this.cbit}`);
  }

  /**
   * Load `vek` into the ASID's key slot (ACTIVATE). The same key again keeps the domain (and its
   * cached plaintext); another key replaces it, as clearKey then loadKey would.
   */
  loadKey(asid: number, vek: Uint8Array): void {
    if (!Number.isInteger(asid) || asid < 1) throw new RangeError(`memory controller: ASID ${asid}`);
    const d = this.#domains.get(asid);
    if (d !== undefined) {
      if (sameBytes(d.vek, vek)) return;
      this.clearKey(asid);
    }
    this.#domains.set(asid, new Domain(asid, vek.slice(), this.engine, this.#shadows));
  }

  /** Clear the ASID's key slot (DEACTIVATE): its dirty pages are written back first, its domain is gone. */
  clearKey(asid: number): void {
    const d = this.#domains.get(asid);
    if (d === undefined) return;
    for (const s of d.shadows.values()) {
      if (s.dirty) writeBack(s);
      this.#shadows.delete(s.spa);
    }
    d.shadows.clear();
    d.kill();
    this.#domains.delete(asid);
  }

  /** MemoryEncryption.domain: the ASID's encrypted memory, or undefined while no key is loaded. */
  domain(asid: number): EncryptedMemory | undefined {
    return this.#domains.get(asid);
  }

  /** Pages whose plaintext the CPUs hold right now (every ASID), for tests and debug views. */
  get cachedPages(): number {
    return this.#shadows.size;
  }

  /**
   * HostMemoryObserver (src/host/address-space.ts): host software is about to read (write = false)
   * or write `length` bytes at `hva` (the model's spa). Nothing to do, and one size check, while no
   * CPU holds plaintext; otherwise one Map lookup per page of the range (or one pass over the
   * shadows when the range has more pages than there are shadows).
   */
  beforeHostAccess(hva: number, length: number, write: boolean): void {
    const all = this.#shadows;
    if (all.size === 0 || !(length > 0)) return;
    const first = hva - (hva % PAGE);
    const end = hva + length;
    if ((end - first) / PAGE <= all.size) {
      for (let p = first; p < end; p += PAGE) {
        const s = all.get(p);
        if (s !== undefined) this.#hostTouch(s, write);
      }
    } else {
      for (const s of all.values()) if (s.spa >= first && s.spa < end) this.#hostTouch(s, write);
    }
  }

  #hostTouch(s: Shadow, write: boolean): void {
    if (write) {
      if (s.dirty) writeBack(s);
      s.domain.drop(s);
    } else if (s.dirty) {
      writeBack(s);
      s.domain.bump();
    }
  }

  /** Write back every dirty page of every ASID (the copies stay, clean). */
  flush(): void {
    const bumped = new Set<Domain>();
    for (const s of this.#shadows.values()) {
      if (!s.dirty) continue;
      writeBack(s);
      bumped.add(s.domain);
    }
    for (const d of bumped) d.bump();
  }

  /** Whether a CPU of the ASID has reached the page at `spa` privately since its key was loaded (debug views). */
  usedPrivately(asid: number, spa: number): boolean {
    return this.#domains.get(asid)?.usedPrivately.has(spa - (spa % PAGE)) ?? false;
  }

  /**
   * The guest's plaintext of `frame` (bytes in memory at `spa`, 16-byte aligned, any number of
   * pages) under the ASID's key, as a new array: a copy of the CPUs' plaintext where they hold the
   * page, memory decrypted elsewhere. Caches nothing and writes nothing back. Undefined while the
   * ASID has no key. For debug views; the firmware's DBG_DECRYPT reads memory (after the hook).
   */
  debugPlaintext(asid: number, spa: number, frame: Uint8Array): Uint8Array | undefined {
    const d = this.#domains.get(asid);
    if (d === undefined) return undefined;
    const out = frame.slice();
    for (let at = 0; at < out.length; ) {
      const a = spa + at;
      const inPage = a % PAGE;
      const n = Math.min(out.length - at, PAGE - inPage);
      const s = this.#shadows.get(a - inPage);
      if (s !== undefined && s.domain === d) out.set(s.plain.subarray(inPage, inPage + n), at);
      else this.engine.decrypt(d.vek, { spa: a, bytes: out.subarray(at, at + n) });
      at += n;
    }
    return out;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
