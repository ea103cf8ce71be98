/**
 * The memory-encryption engine as the SEV firmware drives it: "encrypt these bytes in place with
 * this guest's key" (LAUNCH_UPDATE_DATA, LAUNCH_UPDATE_VMSA, DBG_ENCRYPT) and the reverse
 * (DBG_DECRYPT). The firmware's commands call it and never know how it works, so the real engine
 * (AES with a tweak from the physical address; issue 14) replaces `PLAINTEXT_ENGINE` without
 * changing a command. That engine is xts-engine.ts, which the model platform's memory controller
 * (memory-controller.ts) and firmware share; a firmware built without a controller defaults to
 * `PLAINTEXT_ENGINE`.
 */

/** Bytes the firmware hands the engine: where they sit in system memory and the bytes themselves. */
export interface PhysRange {
  /**
   * The system physical address of bytes[0] (the engine's tweak). The model has no physical
   * memory map below the VMM's address space: KVM passes the host address of the pinned page as
   * the stand-in, and 0 for its own bounce pages (which are never encrypted).
   */
  readonly spa: number;
  /** The bytes, aliasing the page frame (writes go to memory). */
  readonly bytes: Uint8Array;
}

/** What the firmware asks of the memory-encryption engine. */
export interface MemoryCrypt {
  /** Encrypt `range.bytes` in place under the guest key `vek` (C-bit set on the write). */
  encrypt(vek: Uint8Array, range: PhysRange): void;
  /** Decrypt `range.bytes` in place under `vek` (a C-bit read). */
  decrypt(vek: Uint8Array, range: PhysRange): void;
}

/**
 * The engine before there is one: private memory holds plaintext, so "encrypt in place" leaves the
 * bytes as they are (today's model, where guest and host see the same bytes).
 */
export const PLAINTEXT_ENGINE: MemoryCrypt = {
  encrypt(): void {},
  decrypt(): void {},
};
