/**
 * Guest images: the bytes a VMM puts into guest RAM before the first KVM_RUN, as segments (a GPA,
 * the bytes the file holds, and the size in memory: the rest is zero-filled, an ELF .bss) and an
 * entry point when the file names one. Two formats: a flat binary loaded at a GPA the user gives
 * (`flatImage`), and an ELF executable (`parseElfImage` in elf-image.ts, which builds on this
 * file). `writeGuestImage` copies the segments into the VMM's RAM.
 */
import { Errno } from '../uapi/errno.js';
import type { VmmError } from './errors.js';
import type { GuestRam } from './memory.js';

/** One piece of an image: `bytes` at `gpa`, zero-filled from there to `gpa + memsz`. */
export interface GuestSegment {
  readonly gpa: number;
  readonly bytes: Uint8Array;
  /** Bytes the segment occupies in guest memory (at least `bytes.length`). */
  readonly memsz: number;
  /** ELF's PF_X: the segment holds code (undefined for a flat image: all of it may). */
  readonly executable?: boolean;
}

/** A parsed guest image. */
export interface GuestImage {
  readonly segments: readonly GuestSegment[];
  /** Where the guest starts (ELF e_entry); undefined when the file does not say (flat, e_entry 0). */
  readonly entry: number | undefined;
}

/**
 * The highest guest-physical address bit x86 can have (MAXPHYADDR is at most 52): a segment must
 * end at or below 2^52. Also keeps every address a safe JavaScript integer.
 */
export const GUEST_PHYS_LIMIT = 2 ** 52;

/**
 * A flat binary loaded at `loadGpa`: one segment, no entry point (the VMM decides; by convention
 * the load address). EINVAL for a GPA that is not a non-negative integer or an image ending above
 * {@link GUEST_PHYS_LIMIT}. An empty file is an image with no segment.
 */
export function flatImage(bytes: Uint8Array, loadGpa: number): GuestImage | Errno {
  if (!Number.isSafeInteger(loadGpa) || loadGpa < 0 || loadGpa + bytes.length > GUEST_PHYS_LIMIT) {
    return new Errno(
      'EINVAL',
      `flat image: ${bytes.length} bytes at GPA ${loadGpa} do not fit below 2^52 (or the GPA is not an integer)`,
    );
  }
  const segments = bytes.length === 0 ? [] : [{ gpa: loadGpa, bytes: bytes.slice(), memsz: bytes.length }];
  return { segments, entry: undefined };
}

/** Zero fill is written in pieces of this size, so a large .bss needs no buffer as large. */
const ZERO_CHUNK = 0x1_0000;

/**
 * Write every segment into guest RAM through the VMM's own mappings (`vmm.ram`), zero-filling each
 * up to its `memsz`. The first failure is returned (EFAULT where a segment is not RAM), prefixed
 * with the segment; segments before it stay written.
 */
export function writeGuestImage(ram: Pick<GuestRam, 'write'>, image: GuestImage): VmmError | undefined {
  const zeros = new Uint8Array(ZERO_CHUNK);
  for (const [i, s] of image.segments.entries()) {
    const fail = (e: VmmError): VmmError => ({
      ...e,
      message: `segment ${i} (GPA 0x${s.gpa.toString(16)}): ${e.message}`,
    });
    const e = s.bytes.length > 0 ? ram.write(s.gpa, s.bytes) : undefined;
    if (e) return fail(e);
    for (let at = s.gpa + s.bytes.length; at < s.gpa + s.memsz; at += ZERO_CHUNK) {
      const z = ram.write(at, zeros.subarray(0, Math.min(ZERO_CHUNK, s.gpa + s.memsz - at)));
      if (z) return fail(z);
    }
  }
  return undefined;
}
