/**
 * The two permission maps SVM consults when the VMCB intercepts IOIO_PROT / MSR_PROT (AMD APM
 * vol. 2, 15.10 "I/O and MSR intercepts"). Real hardware reads them from host memory at the
 * physical addresses in the VMCB's iopm_base_pa (0x040) and msrpm_base_pa (0x048); the model keeps
 * them as byte arrays beside the VMCB instead (Vmcb.iopm, Vmcb.msrpm). A set bit intercepts.
 *
 * - IOPM: one bit per port (bit p = byte p >> 3, bit p & 7), checked for every byte an access
 *   touches, so a 4-byte access at port 0xffff reads bits 0xffff-0x10002: the map is 12 KiB
 *   (IOPM_SIZE, arch/x86/kvm/svm/svm.h), of which 64K + 3 bits are used. KVM's own reading of an
 *   L1 hypervisor's IOPM (nested_svm_intercept_ioio, arch/x86/kvm/svm/nested.c) does the same.
 * - MSRPM: two bits per MSR (read, then write) in three 2 KiB ranges covering MSRs 0x0000_0000,
 *   0xc000_0000 and 0xc001_0000 onwards, 8192 MSRs each; any other MSR is always intercepted
 *   (svm_msrpm_bit_nr returns -EINVAL, and the svm_test_msr_bitmap_* helpers of svm.h say "true").
 *   The map is 8 KiB (MSRPM_SIZE); the fourth 2 KiB are unused.
 */

/** sizeof the I/O permission map: PAGE_SIZE * 3 (arch/x86/kvm/svm/svm.h). */
export const IOPM_SIZE = 0x3000;
/** sizeof the MSR permission map: PAGE_SIZE * 2 (arch/x86/kvm/svm/svm.h). */
export const MSRPM_SIZE = 0x2000;
/** MSRs one MSRPM range covers (svm.h: static_assert(SVM_MSRS_PER_RANGE == 8192)). */
export const SVM_MSRS_PER_RANGE = 8192;
/** Bytes of one MSRPM range. */
export const SVM_MSRPM_BYTES_PER_RANGE = 2048;
/** Bits per MSR in the MSRPM: read intercept, then write intercept. */
export const SVM_BITS_PER_MSR = 2;
/** The first MSR of each MSRPM range, by range number. */
export const SVM_MSRPM_RANGES: readonly number[] = [0x0000_0000, 0xc000_0000, 0xc001_0000];

/** svm_msrpm_bit_nr: the MSRPM bit of `msr`'s read intercept (the write intercept is the next), or -1. */
export function svmMsrpmBitNr(msr: number): number {
  const m = msr >>> 0;
  const offset = m & (SVM_MSRS_PER_RANGE - 1);
  const range = SVM_MSRPM_RANGES.indexOf((m - offset) >>> 0);
  if (range < 0) return -1;
  return range * SVM_MSRPM_BYTES_PER_RANGE * 8 + offset * SVM_BITS_PER_MSR;
}

/** svm_test_msr_bitmap_read / _write: is the access intercepted? MSRs outside every range always are. */
export function msrpmTest(msrpm: Uint8Array, msr: number, write: boolean): boolean {
  const nr = svmMsrpmBitNr(msr);
  if (nr < 0) return true;
  const bit = nr + (write ? 1 : 0);
  return ((msrpm[bit >>> 3]! >>> (bit & 7)) & 1) !== 0;
}

/**
 * svm_set_msr_bitmap_* (intercept) / svm_clear_msr_bitmap_* (pass through) for one access. An MSR
 * outside every range has no bit to change (KVM's helpers do nothing for it either).
 */
export function msrpmSet(msrpm: Uint8Array, msr: number, write: boolean, intercept: boolean): void {
  const nr = svmMsrpmBitNr(msr);
  if (nr < 0) return;
  const bit = nr + (write ? 1 : 0);
  const mask = 1 << (bit & 7);
  const i = bit >>> 3;
  msrpm[i] = intercept ? msrpm[i]! | mask : msrpm[i]! & ~mask;
}

/** Is an access of `size` bytes (1, 2 or 4) at `port` intercepted: any of its bytes' IOPM bits set. */
export function iopmTest(iopm: Uint8Array, port: number, size: number): boolean {
  const first = port & 0xffff;
  for (let p = first; p < first + size; p++) if ((iopm[p >>> 3]! >>> (p & 7)) & 1) return true;
  return false;
}
