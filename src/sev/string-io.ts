/**
 * String port I/O through the GHCB (sev_es_string_io in sev.c, kvm_sev_es_ins/_outs in x86.c): the
 * data lives in the scratch area; KVM moves it through the one-page PIO area of kvm_run in chunks
 * of PAGE_SIZE / size elements, one KVM_EXIT_IO per chunk (no in-kernel port devices are modelled).
 */
import { KernelOops } from '../kvm/oops.js';
import { preparePioExit } from '../kvm/userspace-exits.js';
import { setupScratch } from './scratch.js';
import type { SevEsVcpu } from './sev-es-vcpu.js';

const EINVAL = -22;
const INT_MAX = 0x7fff_ffff;
const PAGE_SIZE = 4096;

/**
 * sev_es_string_io: `size` is the raw IOIO size field (guest-controlled, 0-7), the element count
 * is sw_exit_info_2. Returns 1 (done, or error reflected), 0 (KVM_EXIT_IO) or -errno.
 */
export function sevEsStringIo(
  sev: SevEsVcpu,
  size: number,
  port: number,
  isIn: boolean,
  scratchGpa: bigint,
): number {
  const countBig = sev.exitInfo2;
  if (countBig > BigInt(INT_MAX)) return EINVAL;
  const count = Number(countBig);
  const bytes = count * size;
  // check_mul_overflow on int.
  if (bytes > INT_MAX) return EINVAL;
  if (sev.profile.ignoreZeroLength && bytes === 0) return 1;
  const r = setupScratch(sev, isIn, BigInt(bytes), scratchGpa, (again) =>
    sevEsStringIo(sev, size, port, isIn, again),
  );
  if (r !== 0) return r;
  if (size === 0) {
    // prefix/seed: count * 0 == 0 passed the scratch checks, and the chunk size is PAGE_SIZE / size.
    const message = `divide error in kvm_sev_es_${isIn ? 'ins' : 'outs'} (string I/O size 0, port 0x${port.toString(16)})`;
    const vcpu = sev.vcpu;
    vcpu.vm.trace?.({ name: 'sevbox_kernel_oops', vcpu: vcpu.id, message });
    vcpu.vm.dead = true;
    throw new KernelOops(message);
  }
  sev.pioData = sev.ghcbSa!.subarray(0, bytes);
  sev.pioCount = count;
  return isIn ? sevEsIns(sev, size, port) : sevEsOuts(sev, size, port);
}

/** One chunk of a string I/O as a KVM_EXIT_IO (emulator_pio_in_out's userspace path). */
function pioExit(sev: SevEsVcpu, size: number, port: number, isIn: boolean, count: number): void {
  const vcpu = sev.vcpu;
  vcpu.runArea.clearExitUnion();
  preparePioExit(vcpu, isIn, size, port, count);
  if (!isIn) vcpu.runArea.pioPage.set(sev.pioData.subarray(0, size * count));
}

/** kvm_sev_es_outs. */
function sevEsOuts(sev: SevEsVcpu, size: number, port: number): number {
  // A count of 0 is "handled in the kernel" by the emulator loop; the guest resumes.
  if (sev.pioCount === 0) return 1;
  const count = Math.min(Math.floor(PAGE_SIZE / size), sev.pioCount);
  pioExit(sev, size, port, false, count);
  sev.pioCount -= count;
  sev.pioData = sev.pioData.subarray(count * size);
  sev.vcpu.completeUserspaceIo = () => (sev.pioCount ? sevEsOuts(sev, size, port) : 1);
  return 0;
}

/** kvm_sev_es_ins. */
function sevEsIns(sev: SevEsVcpu, size: number, port: number): number {
  if (sev.pioCount === 0) return 1;
  const count = Math.min(Math.floor(PAGE_SIZE / size), sev.pioCount);
  pioExit(sev, size, port, true, count);
  sev.vcpu.completeUserspaceIo = () => {
    // complete_sev_es_emulated_ins: copy the answer into the scratch area and advance.
    const n = count * size;
    sev.pioData.set(sev.vcpu.runArea.pioPage.subarray(0, n));
    sev.pioData = sev.pioData.subarray(n);
    sev.pioCount -= count;
    return sev.pioCount ? sevEsIns(sev, size, port) : 1;
  };
  return 0;
}
