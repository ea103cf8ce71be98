/**
 * KVM_CREATE_IRQCHIP's in-kernel interrupt controllers, as far as guests here need interrupts
 * (arch/x86/kvm/lapic.c, ioapic.c, i8259.c): a local APIC per vCPU (its register page is what
 * KVM_GET/SET_LAPIC copy; the x2APIC MSRs reach it in the kernel: ICR for INIT, SIPI and fixed
 * IPIs, EOI, TPR), an IOAPIC whose redirection table routes KVM_IRQ_LINE's GSIs to a local APIC,
 * the two 8259s' state as KVM_GET/SET_IRQCHIP carry it, and the vCPU's wait states (HLT,
 * INIT/SIPI, SEV-ES AP reset hold) that an in-kernel APIC makes KVM handle itself.
 *
 * Not modelled: the xAPIC MMIO page (its accesses go to userspace as MMIO), the APIC timer, logical
 * destinations, and 8259 interrupt delivery (its state is kept, not acted on).
 */

import { Errno } from '../uapi/errno.js';
import type { KvmIrqchip } from '../uapi/irq.js';
import {
  KVM_IRQCHIP_CHIP_BYTES,
  KVM_IRQCHIP_IOAPIC,
  KVM_IRQCHIP_PIC_MASTER,
  KVM_IRQCHIP_PIC_SLAVE,
  KVM_MP_STATE_AP_RESET_HOLD,
  KVM_MP_STATE_HALTED,
  KVM_MP_STATE_INIT_RECEIVED,
  KVM_MP_STATE_RUNNABLE,
} from '../uapi/irq.js';
import {
  APIC_DFR,
  APIC_EOI,
  APIC_ICR,
  APIC_ICR2,
  APIC_ID,
  APIC_IRR,
  APIC_ISR,
  APIC_LVR,
  APIC_LVT0,
  APIC_LVT1,
  APIC_LVTERR,
  APIC_LVTT,
  APIC_SPIV,
  APIC_TASKPRI,
  KVM_LAPIC_STATE_SIZE,
} from '../uapi/lapic.js';
import { MSR_IA32_APICBASE, MSR_IA32_APICBASE_BSP } from '../uapi/msr-index.js';
import { interruptAllowed } from './interrupts.js';
import type { Vcpu } from './vcpu.js';

/** IOAPIC pins (and so GSIs the IOAPIC serves). */
export const IOAPIC_NUM_PINS = 24;
/** x2APIC MSRs: 0x800 + (xAPIC register offset >> 4). */
export const X2APIC_MSR_BASE = 0x800;
export const X2APIC_MSR_END = 0x8ff;

const LVT_MASKED = 1 << 16;
const ICR_DELIVERY_FIXED = 0;
const ICR_DELIVERY_NMI = 4;
const ICR_DELIVERY_INIT = 5;
const ICR_DELIVERY_STARTUP = 6;
const ICR_SHORTHAND_SELF = 1;
const ICR_SHORTHAND_ALL = 2;
const ICR_SHORTHAND_OTHERS = 3;
const REDIR_MASKED = 1n << 16n;

/** A local APIC: its register page (struct kvm_lapic_state) and the SIPI it is waiting to act on. */
export class Lapic {
  readonly regs = new Uint8Array(KVM_LAPIC_STATE_SIZE);
  readonly #view = new DataView(this.regs.buffer);
  /** KVM_APIC_SIPI pending, with apic->sipi_vector. */
  sipiPending = false;
  sipiVector = 0;
  /** KVM_APIC_INIT pending. */
  initPending = false;

  constructor(readonly vcpuId: number) {
    this.reset();
  }

  /** kvm_lapic_reset: the power-on register values. */
  reset(): void {
    this.regs.fill(0);
    this.set(APIC_ID, this.vcpuId << 24);
    this.set(APIC_LVR, 0x0005_0014); // version 0x14, 6 LVT entries (max LVT 5)
    this.set(APIC_DFR, 0xffff_ffff);
    this.set(APIC_SPIV, 0xff);
    for (const lvt of [APIC_LVTT, APIC_LVT0, APIC_LVT1, APIC_LVTERR]) this.set(lvt, LVT_MASKED);
  }

  get(reg: number): number {
    return this.#view.getUint32(reg, true);
  }

  set(reg: number, v: number): void {
    this.#view.setUint32(reg, v >>> 0, true);
  }

  #bit(base: number, vector: number): [number, number] {
    return [base + ((vector >>> 5) << 4), 1 << (vector & 31)];
  }

  /** Accept a fixed interrupt: its IRR bit. */
  setIrr(vector: number): void {
    const [reg, bit] = this.#bit(APIC_IRR, vector);
    this.set(reg, this.get(reg) | bit);
  }

  /** The highest vector set in the 256-bit register at `base`, or -1. */
  #highest(base: number): number {
    for (let w = 7; w >= 0; w--) {
      const v = this.get(base + (w << 4));
      if (v) return (w << 5) + 31 - Math.clz32(v);
    }
    return -1;
  }

  /**
   * kvm_apic_has_interrupt: the highest requested vector whose priority class beats both the TPR
   * and the highest in service, or -1.
   */
  pendingVector(): number {
    const irr = this.#highest(APIC_IRR);
    if (irr < 0) return -1;
    const isr = this.#highest(APIC_ISR);
    const ppr = Math.max(this.get(APIC_TASKPRI) & 0xf0, isr < 0 ? 0 : isr & 0xf0);
    return (irr & 0xf0) > ppr ? irr : -1;
  }

  /** kvm_get_apic_interrupt: the vector moves from IRR to ISR. */
  ack(vector: number): void {
    const [irr, bit] = this.#bit(APIC_IRR, vector);
    this.set(irr, this.get(irr) & ~bit);
    const [isr] = this.#bit(APIC_ISR, vector);
    this.set(isr, this.get(isr) | bit);
  }

  /** EOI: the highest vector in service completes. */
  eoi(): void {
    const v = this.#highest(APIC_ISR);
    if (v < 0) return;
    const [isr, bit] = this.#bit(APIC_ISR, v);
    this.set(isr, this.get(isr) & ~bit);
  }
}

/** The in-kernel irqchip of one VM. */
export class Irqchip {
  readonly lapics = new Map<number, Lapic>();
  /** kvm_ioapic_state: id and the 24 64-bit redirection entries (masked at reset). */
  ioapicId = 0;
  readonly redirtbl: bigint[] = new Array<bigint>(IOAPIC_NUM_PINS).fill(REDIR_MASKED);
  /** Line levels of the IOAPIC pins as KVM_IRQ_LINE left them. */
  readonly levels = new Uint8Array(IOAPIC_NUM_PINS);
  /** kvm_pic_state of the master and slave 8259 (kept as KVM_SET_IRQCHIP gave it). */
  readonly pic = [new Uint8Array(KVM_IRQCHIP_CHIP_BYTES), new Uint8Array(KVM_IRQCHIP_CHIP_BYTES)] as const;
  readonly #vcpus = new Map<number, Vcpu>();

  /** A new vCPU's local APIC (kvm_create_lapic): kept here by APIC id and on the vCPU. */
  addVcpu(vcpu: Vcpu): void {
    const l = new Lapic(vcpu.id);
    this.lapics.set(vcpu.id, l);
    this.#vcpus.set(vcpu.id, vcpu);
    vcpu.lapic = l;
  }

  /** The vCPU's local APIC (vcpu->arch.apic). */
  lapic(vcpu: Vcpu): Lapic {
    return vcpu.lapic!;
  }

  /**
   * KVM_IRQ_LINE: a rising edge (or a high level) on an IOAPIC pin delivers the pin's redirection
   * entry, unless masked, as a fixed interrupt to the APIC its destination names. Returns
   * KVM_IRQ_LINE_STATUS's value: 1 delivered, 0 coalesced (already pending or masked), -1 no pin.
   */
  irqLine(gsi: number, level: number): number {
    if (gsi >= IOAPIC_NUM_PINS) return -1;
    const was = this.levels[gsi]!;
    this.levels[gsi] = level ? 1 : 0;
    if (!level || was) return 0;
    const e = this.redirtbl[gsi]!;
    if (e & REDIR_MASKED) return 0;
    const vector = Number(e & 0xffn);
    const dest = Number((e >> 56n) & 0xffn);
    const lapic = [...this.lapics.values()].find((l) => l.get(APIC_ID) >>> 24 === dest);
    if (!lapic) return 0;
    lapic.setIrr(vector);
    return 1;
  }

  /** KVM_GET_IRQCHIP. */
  getChip(chipId: number): KvmIrqchip | Errno {
    const chip = new Uint8Array(KVM_IRQCHIP_CHIP_BYTES);
    switch (chipId) {
      case KVM_IRQCHIP_PIC_MASTER:
      case KVM_IRQCHIP_PIC_SLAVE:
        chip.set(this.pic[chipId]);
        break;
      case KVM_IRQCHIP_IOAPIC: {
        // struct kvm_ioapic_state: base_address u64, ioregsel u32, id u32, irr u32, pad u32, redirtbl[24] u64.
        const dv = new DataView(chip.buffer);
        dv.setBigUint64(0, 0xfec0_0000n, true);
        dv.setUint32(12, this.ioapicId, true);
        this.redirtbl.forEach((e, i) => {
          dv.setBigUint64(24 + 8 * i, e, true);
        });
        break;
      }
      default:
        return new Errno('EINVAL', `irqchip ${chipId}`);
    }
    return { chipId, chip };
  }

  /** KVM_SET_IRQCHIP. */
  setChip(c: KvmIrqchip): Errno | undefined {
    switch (c.chipId) {
      case KVM_IRQCHIP_PIC_MASTER:
      case KVM_IRQCHIP_PIC_SLAVE:
        this.pic[c.chipId].set(c.chip.subarray(0, KVM_IRQCHIP_CHIP_BYTES));
        return undefined;
      case KVM_IRQCHIP_IOAPIC: {
        const dv = new DataView(c.chip.buffer, c.chip.byteOffset, KVM_IRQCHIP_CHIP_BYTES);
        this.ioapicId = dv.getUint32(12, true);
        for (let i = 0; i < IOAPIC_NUM_PINS; i++) this.redirtbl[i] = dv.getBigUint64(24 + 8 * i, true);
        return undefined;
      }
      default:
        return new Errno('EINVAL', `irqchip ${c.chipId}`);
    }
  }

  /** An x2APIC MSR read in the kernel; undefined for one that does not exist (#GP). */
  readMsr(vcpu: Vcpu, index: number): bigint | undefined {
    const reg = (index - X2APIC_MSR_BASE) << 4;
    const l = this.lapic(vcpu);
    if (reg === APIC_ICR) return (BigInt(l.get(APIC_ICR2)) << 32n) | BigInt(l.get(APIC_ICR));
    if (reg === APIC_ID) return BigInt(vcpu.id); // x2APIC ID: the full 32-bit id
    if (reg === APIC_EOI || reg > 0x3f0) return undefined;
    return BigInt(l.get(reg));
  }

  /** An x2APIC MSR write in the kernel: false for one that does not exist or is read-only (#GP). */
  writeMsr(vcpu: Vcpu, index: number, value: bigint): boolean {
    const reg = (index - X2APIC_MSR_BASE) << 4;
    const l = this.lapic(vcpu);
    switch (reg) {
      case APIC_EOI:
        l.eoi();
        return true;
      case APIC_TASKPRI:
        l.set(reg, Number(value & 0xffn));
        return true;
      case APIC_ICR:
        l.set(APIC_ICR, Number(value & 0xffff_ffffn));
        l.set(APIC_ICR2, Number(value >> 32n));
        this.#sendIpi(vcpu, Number(value & 0xffff_ffffn), Number(value >> 32n));
        return true;
      case APIC_SPIV:
      case APIC_LVTT:
      case APIC_LVT0:
      case APIC_LVT1:
      case APIC_LVTERR:
        l.set(reg, Number(value & 0xffff_ffffn));
        return true;
      default:
        return false;
    }
  }

  /** kvm_apic_send_ipi: fixed, NMI, INIT and STARTUP to an x2APIC destination or a shorthand. */
  #sendIpi(from: Vcpu, icr: number, dest: number): void {
    const mode = (icr >>> 8) & 7;
    const shorthand = (icr >>> 18) & 3;
    for (const [id, vcpu] of this.#vcpus) {
      const hit =
        shorthand === ICR_SHORTHAND_SELF
          ? id === from.id
          : shorthand === ICR_SHORTHAND_ALL
            ? true
            : shorthand === ICR_SHORTHAND_OTHERS
              ? id !== from.id
              : id === dest || dest === 0xffff_ffff;
      if (!hit) continue;
      const l = this.lapics.get(id)!;
      switch (mode) {
        case ICR_DELIVERY_FIXED:
          l.setIrr(icr & 0xff);
          break;
        case ICR_DELIVERY_NMI:
          vcpu.nmiPending++;
          break;
        case ICR_DELIVERY_INIT:
          l.initPending = true;
          break;
        case ICR_DELIVERY_STARTUP:
          l.sipiVector = icr & 0xff;
          l.sipiPending = true;
          break;
        default:
          break;
      }
    }
  }

  /** kvm_vcpu_halt with an in-kernel APIC: the vCPU waits in the kernel for an interrupt. */
  halt(vcpu: Vcpu): number {
    vcpu.mpState = KVM_MP_STATE_HALTED;
    return 1;
  }

  /** kvm_emulate_ap_reset_hold with an in-kernel APIC: the AP waits in the kernel for a SIPI. */
  apResetHold(vcpu: Vcpu): number {
    vcpu.mpState = KVM_MP_STATE_AP_RESET_HOLD;
    return 1;
  }

  /**
   * kvm_apic_accept_events: a pending INIT puts an AP in INIT_RECEIVED (the BSP runnable); a pending
   * SIPI is taken only by a vCPU in INIT_RECEIVED (the VM type's deliver-SIPI hook: SEV-ES answers
   * its AP reset hold), and dropped by any other.
   */
  acceptApicEvents(vcpu: Vcpu, deliverSipi: (vector: number) => void): void {
    const l = this.lapic(vcpu);
    if (l.initPending) {
      l.initPending = false;
      vcpu.mpState = kvmVcpuIsBsp(vcpu) ? KVM_MP_STATE_RUNNABLE : KVM_MP_STATE_INIT_RECEIVED;
    }
    if (l.sipiPending) {
      l.sipiPending = false;
      if (vcpu.mpState === KVM_MP_STATE_INIT_RECEIVED) {
        deliverSipi(l.sipiVector);
        vcpu.mpState = KVM_MP_STATE_RUNNABLE;
      }
    }
  }

  /**
   * kvm_vcpu_has_events: what ends a vCPU's wait in kvm_vcpu_block. An interrupt counts only if the
   * vCPU could take it now (IF set, no shadow).
   */
  hasEvents(vcpu: Vcpu): boolean {
    const l = this.lapic(vcpu);
    return (
      l.initPending ||
      l.sipiPending ||
      vcpu.nmiPending > 0 ||
      vcpu.pvUnhalted ||
      (l.pendingVector() >= 0 && interruptAllowed(vcpu))
    );
  }
}

/** kvm_vcpu_is_bsp: the APIC base MSR's BSP bit. */
function kvmVcpuIsBsp(vcpu: Vcpu): boolean {
  return ((vcpu.msrs.get(MSR_IA32_APICBASE) ?? 0n) & MSR_IA32_APICBASE_BSP) !== 0n;
}
