/**
 * The guest's MTRRs as KVM keeps them (arch/x86/kvm/mtrr.c, kvm_mtrr_get_msr / kvm_mtrr_set_msr):
 * MTRRcap reads 0x500 | KVM_NR_VAR_MTRR (fixed-range MTRRs and write-combining supported, 8
 * variable ranges) and cannot be written; MTRRdefType, the eleven fixed-range MTRRs and the eight
 * variable base/mask pairs are stored after kvm_mtrr_valid's checks (memory types 0, 1, 4, 5, 6;
 * reserved bits, physical-address bits above MAXPHYADDR). KVM gives them no effect on the guest's
 * memory types under NPT, and neither does the model. Firmware (OVMF's PEI) programs them early.
 */
export const MSR_MTRRcap = 0xfe;
export const MSR_MTRRdefType = 0x2ff;
/** Variable MTRRs: base at 0x200 + 2n, mask at 0x201 + 2n. */
export const MSR_MTRRphysBase0 = 0x200;
export const KVM_NR_VAR_MTRR = 8;
/** MTRRcap: fixed-range MTRRs (bit 8), write-combining (bit 10), the variable count. */
export const MTRRCAP_VALUE = BigInt(0x500 | KVM_NR_VAR_MTRR);
/** The fixed-range MTRRs: 64K_00000, 16K_80000, 16K_A0000, 4K_C0000 … 4K_F8000. */
const FIXED_MTRRS: readonly number[] = [
  0x250, 0x258, 0x259, 0x268, 0x269, 0x26a, 0x26b, 0x26c, 0x26d, 0x26e, 0x26f,
];

/** msr_mtrr_valid: the MTRRs KVM stores (MTRRcap is read-only and not among them). */
function isStoredMtrr(index: number): boolean {
  return (
    index === MSR_MTRRdefType ||
    FIXED_MTRRS.includes(index) ||
    (index >= MSR_MTRRphysBase0 && index < MSR_MTRRphysBase0 + 2 * KVM_NR_VAR_MTRR)
  );
}

/** Whether KVM's MTRR code answers for `index` (MTRRcap included). */
export function isMtrrMsr(index: number): boolean {
  return index === MSR_MTRRcap || isStoredMtrr(index);
}

/** valid_mtrr_type: UC, WC, WT, WP, WB. */
function validType(t: number): boolean {
  return t < 8 && ((1 << t) & 0x73) !== 0;
}

/** kvm_mtrr_valid for a stored MTRR; `maxPhysBits` is the guest's MAXPHYADDR. */
function mtrrValid(index: number, value: bigint, maxPhysBits: number): boolean {
  if (index === MSR_MTRRdefType) return (value & ~0xcffn) === 0n && validType(Number(value & 0xffn));
  if (FIXED_MTRRS.includes(index)) {
    for (let i = 0n; i < 64n; i += 8n) if (!validType(Number((value >> i) & 0xffn))) return false;
    return true;
  }
  // kvm_vcpu_reserved_gpa_bits_raw: every bit from MAXPHYADDR up.
  let mask = BigInt.asUintN(64, ~((1n << BigInt(maxPhysBits)) - 1n));
  if ((index & 1) === 0) {
    if (!validType(Number(value & 0xffn))) return false;
    mask |= 0xf00n;
  } else {
    mask |= 0x7ffn;
  }
  return (value & mask) === 0n;
}

/** One vCPU's MTRRs (vcpu->arch.mtrr_state): all zero at creation. */
export class MtrrState {
  readonly #values = new Map<number, bigint>();

  /** kvm_mtrr_get_msr: the value of an MTRR MSR (isMtrrMsr). */
  get(index: number): bigint {
    return index === MSR_MTRRcap ? MTRRCAP_VALUE : (this.#values.get(index) ?? 0n);
  }

  /** kvm_mtrr_set_msr: false when KVM refuses the value (#GP for the guest, a failed KVM_SET_MSRS entry). */
  set(index: number, value: bigint, maxPhysBits: number): boolean {
    if (!isStoredMtrr(index) || !mtrrValid(index, value, maxPhysBits)) return false;
    this.#values.set(index, value);
    return true;
  }
}
