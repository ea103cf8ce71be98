/**
 * The fd ABI in bytes (src/serve/ioctl-dispatch.ts): the ioctl numbers and struct bytes a C client
 * sends, answered by the model and — the same bytes through the same dispatcher — by the machine's
 * real /dev/kvm, which must agree (skipped with one line without a usable /dev/kvm).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ProcessMemory } from '../../src/host/process.js';
import { dispatchIoctl, type KvmHandle } from '../../src/serve/ioctl-dispatch.js';
import { KVM_CAP_USER_MEMORY, KVM_X86_SEV_VM } from '../../src/uapi/caps.js';
import { encodeCpuid2 } from '../../src/uapi/cpuid.js';
import { decodeDebugregs, encodeDebugregs } from '../../src/uapi/debugregs.js';
import { ERRNO } from '../../src/uapi/errno.js';
import { KVM_EXIT_HLT } from '../../src/uapi/exit-reasons.js';
import {
  KVM_CHECK_EXTENSION,
  KVM_CREATE_VCPU,
  KVM_CREATE_VM,
  KVM_GET_API_VERSION,
  KVM_GET_DEBUGREGS,
  KVM_GET_NR_MMU_PAGES,
  KVM_GET_REGS,
  KVM_GET_SREGS,
  KVM_GET_SUPPORTED_CPUID,
  KVM_MEMORY_ENCRYPT_OP,
  KVM_MEMORY_ENCRYPT_REG_REGION,
  KVM_MEMORY_ENCRYPT_UNREG_REGION,
  KVM_RUN,
  KVM_SET_DEBUGREGS,
  KVM_SET_NR_MMU_PAGES,
  KVM_SET_REGS,
  KVM_SET_SREGS,
  KVM_SET_USER_MEMORY_REGION,
} from '../../src/uapi/ioctl.js';
import type { KvmFd, VcpuFd } from '../../src/uapi/kvm-fd.js';
import { encodeUserspaceMemoryRegion } from '../../src/uapi/memslot.js';
import { decodeRegs, encodeRegs } from '../../src/uapi/regs.js';
import { encodeEncRegion, encodeSevCmd, encodeSevInit, KVM_SEV_INIT2 } from '../../src/uapi/sev-cmd.js';
import { decodeSregs, encodeSregs } from '../../src/uapi/sregs.js';
import { modelPlatform } from '../../src/vmm/platform.js';
import { oracleHost } from '../oracle/host.js';

const NONE = new Uint8Array(0);

/** A backend: its /dev/kvm and the process memory guest RAM comes from. */
interface Backend {
  readonly kvm: KvmFd;
  readonly memory: ProcessMemory;
}

/** The byte-level story both backends are put through; returns what a client would observe. */
function story(b: Backend): Record<string, unknown> {
  const sys: KvmHandle = { kind: 'system', fd: b.kvm };
  const seen: Record<string, unknown> = {};
  seen['api'] = dispatchIoctl(sys, KVM_GET_API_VERSION, 0n, NONE).result;
  seen['api with an argument'] = dispatchIoctl(sys, KVM_GET_API_VERSION, 1n, NONE).result;
  seen['user memory'] = dispatchIoctl(sys, KVM_CHECK_EXTENSION, BigInt(KVM_CAP_USER_MEMORY), NONE).result;
  const short = dispatchIoctl(sys, KVM_GET_SUPPORTED_CPUID, 0n, encodeCpuid2({ nent: 1, entries: [] }));
  seen['supported cpuid, room for 1'] = [short.result, short.out];
  const full = dispatchIoctl(sys, KVM_GET_SUPPORTED_CPUID, 0n, encodeCpuid2({ nent: 256, entries: [] }));
  seen['supported cpuid, room for 256'] = full.result;
  assert.ok(full.out && new DataView(full.out.buffer, full.out.byteOffset).getUint32(0, true) > 1);

  const vmr = dispatchIoctl(sys, KVM_CREATE_VM, 0n, NONE);
  assert.equal(vmr.created?.kind, 'vm');
  const vm = vmr.created!;
  const hva = b.memory.mapAnonymous(0x10000);
  assert.equal(typeof hva, 'number');
  const region = encodeUserspaceMemoryRegion({
    slot: 0,
    flags: 0,
    guestPhysAddr: 0n,
    memorySize: 0x10000n,
    userspaceAddr: BigInt(hva as number),
  });
  seen['memslot'] = dispatchIoctl(vm, KVM_SET_USER_MEMORY_REGION, 0n, region).result;
  seen['memslot, struct cut short'] = dispatchIoctl(
    vm,
    KVM_SET_USER_MEMORY_REGION,
    0n,
    region.subarray(0, 16),
  ).result;
  seen['nr mmu pages 63'] = dispatchIoctl(vm, KVM_SET_NR_MMU_PAGES, 63n, NONE).result;
  seen['nr mmu pages 64'] = dispatchIoctl(vm, KVM_SET_NR_MMU_PAGES, 64n, NONE).result;
  seen['get nr mmu pages (gone since 6.4)'] = dispatchIoctl(vm, KVM_GET_NR_MMU_PAGES, 0n, NONE).result;
  const v0 = dispatchIoctl(vm, KVM_CREATE_VCPU, 0n, NONE);
  seen['vcpu 0'] = [v0.result, v0.created?.kind];
  seen['vcpu 0 again'] = dispatchIoctl(vm, KVM_CREATE_VCPU, 0n, NONE).result;
  const vcpu = v0.created!;

  const dbgReset = dispatchIoctl(vcpu, KVM_GET_DEBUGREGS, 0n, NONE);
  seen['debugregs at reset'] = [dbgReset.result, dbgReset.out && decodeDebugregs(dbgReset.out)];
  // L0 enabled on an address the guest never executes: the model's x86 CPU matches no breakpoints.
  const dbg = {
    db: [0xdead_0000n, 0x2000n, 0x3000n, 0xffff_8000_0000_0000n],
    dr6: 0xffff0ff0n,
    dr7: 0x401n,
    flags: 0n,
  };
  seen['set debugregs'] = dispatchIoctl(vcpu, KVM_SET_DEBUGREGS, 0n, encodeDebugregs(dbg)).result;
  const dbgBack = dispatchIoctl(vcpu, KVM_GET_DEBUGREGS, 0n, NONE);
  seen['debugregs back'] = [dbgBack.result, dbgBack.out && decodeDebugregs(dbgBack.out)];
  seen['set debugregs, flags 1'] = dispatchIoctl(
    vcpu,
    KVM_SET_DEBUGREGS,
    0n,
    encodeDebugregs({ ...dbg, flags: 1n }),
  ).result;
  seen['set debugregs, dr7 bit 32'] = dispatchIoctl(
    vcpu,
    KVM_SET_DEBUGREGS,
    0n,
    encodeDebugregs({ ...dbg, dr7: 1n << 32n }),
  ).result;
  seen['set debugregs, struct cut short'] = dispatchIoctl(
    vcpu,
    KVM_SET_DEBUGREGS,
    0n,
    encodeDebugregs(dbg).subarray(0, 64),
  ).result;

  // A real-mode HLT at 0x1000.
  assert.equal(b.memory.write((hva as number) + 0x1000, Uint8Array.of(0xf4)), undefined);
  const sregsOut = dispatchIoctl(vcpu, KVM_GET_SREGS, 0n, NONE);
  assert.equal(sregsOut.result, 0);
  const sregs = decodeSregs(sregsOut.out!);
  sregs.cs = { ...sregs.cs, base: 0n, selector: 0 };
  seen['set sregs'] = dispatchIoctl(vcpu, KVM_SET_SREGS, 0n, encodeSregs(sregs)).result;
  const regs = decodeRegs(dispatchIoctl(vcpu, KVM_GET_REGS, 0n, NONE).out!);
  const set = encodeRegs({ ...regs, rip: 0x1000n, rflags: 2n });
  seen['set regs'] = dispatchIoctl(vcpu, KVM_SET_REGS, 0n, set).result;
  seen['set regs, struct cut short'] = dispatchIoctl(vcpu, KVM_SET_REGS, 0n, set.subarray(0, 100)).result;
  seen['run with an argument'] = dispatchIoctl(vcpu, KVM_RUN, 1n, NONE).result;
  seen['run'] = dispatchIoctl(vcpu, KVM_RUN, 0n, NONE).result;
  const fd = (vcpu as { fd: VcpuFd }).fd;
  seen['exit reason'] = fd.runArea.exitReason;
  seen['rip after hlt'] = decodeRegs(dispatchIoctl(vcpu, KVM_GET_REGS, 0n, NONE).out!).rip;
  fd.close();
  vm.fd.close();
  return seen;
}

const model = (): Backend => {
  const p = modelPlatform({ cpu: 'x86' });
  return { kvm: p.kvm, memory: p.memory };
};

describe('ioctls as bytes, on the model', () => {
  it('the story a C client sees: versions, capabilities, E2BIG, short structs, EEXIST, a HLT exit', () => {
    const seen = story(model());
    assert.equal(seen['api'], 12);
    assert.equal(seen['api with an argument'], -ERRNO.EINVAL);
    assert.equal(seen['user memory'], 1);
    assert.deepEqual(
      seen['supported cpuid, room for 1'],
      [-ERRNO.E2BIG, undefined],
      'nothing copied out on E2BIG',
    );
    assert.equal(seen['supported cpuid, room for 256'], 0);
    assert.equal(seen['memslot'], 0);
    assert.equal(seen['memslot, struct cut short'], -ERRNO.EFAULT);
    assert.deepEqual(seen['vcpu 0'], [0, 'vcpu']);
    assert.equal(seen['vcpu 0 again'], -ERRNO.EEXIST);
    assert.equal(seen['set regs, struct cut short'], -ERRNO.EFAULT);
    assert.equal(seen['nr mmu pages 63'], -ERRNO.EINVAL, 'below KVM_MIN_ALLOC_MMU_PAGES');
    assert.equal(seen['nr mmu pages 64'], 0);
    assert.equal(seen['get nr mmu pages (gone since 6.4)'], -ERRNO.ENOTTY);
    assert.deepEqual(seen['debugregs at reset'], [
      0,
      { db: [0n, 0n, 0n, 0n], dr6: 0xffff0ff0n, dr7: 0x400n, flags: 0n },
    ]);
    assert.equal(seen['set debugregs'], 0);
    assert.deepEqual(seen['debugregs back'], [
      0,
      {
        db: [0xdead_0000n, 0x2000n, 0x3000n, 0xffff_8000_0000_0000n],
        dr6: 0xffff0ff0n,
        dr7: 0x401n,
        flags: 0n,
      },
    ]);
    assert.equal(seen['set debugregs, flags 1'], -ERRNO.EINVAL);
    assert.equal(seen['set debugregs, dr7 bit 32'], -ERRNO.EINVAL);
    assert.equal(seen['set debugregs, struct cut short'], -ERRNO.EFAULT);
    assert.equal(seen['run with an argument'], -ERRNO.EINVAL);
    assert.equal(seen['run'], 0);
    assert.equal(seen['exit reason'], KVM_EXIT_HLT);
    assert.equal(seen['rip after hlt'], 0x1001n);
  });

  it('ioctls an fd does not have are what the kernel answers: EINVAL on /dev/kvm and vCPUs, ENOTTY on VMs', () => {
    const b = model();
    const sys: KvmHandle = { kind: 'system', fd: b.kvm };
    const bogus = 0xae_ff; // _IO(KVMIO, 0xff)
    assert.equal(dispatchIoctl(sys, bogus, 0n, NONE).result, -ERRNO.EINVAL);
    const vm = dispatchIoctl(sys, KVM_CREATE_VM, 0n, NONE).created!;
    assert.equal(dispatchIoctl(vm, bogus, 0n, NONE).result, -ERRNO.ENOTTY);
    assert.equal(dispatchIoctl(vm, KVM_GET_API_VERSION, 0n, NONE).result, -ERRNO.ENOTTY);
    const vcpu = dispatchIoctl(vm, KVM_CREATE_VCPU, 0n, NONE).created!;
    assert.equal(dispatchIoctl(vcpu, bogus, 0n, NONE).result, -ERRNO.EINVAL);
  });

  it('KVM_MEMORY_ENCRYPT_REG/UNREG_REGION: struct kvm_enc_region is the argument (EFAULT cut short), ENOTTY on no SEV guest, exact UNREG', () => {
    const p = modelPlatform();
    const sys: KvmHandle = { kind: 'system', fd: p.kvm };
    const plain = dispatchIoctl(sys, KVM_CREATE_VM, 0n, NONE).created!;
    const ram = BigInt(p.memory.mapAnonymous(0x2000) as number);
    const whole = encodeEncRegion({ addr: ram, size: 0x2000n });
    assert.equal(dispatchIoctl(plain, KVM_MEMORY_ENCRYPT_REG_REGION, 0n, whole).result, -ERRNO.ENOTTY);
    const sev = dispatchIoctl(sys, KVM_CREATE_VM, BigInt(KVM_X86_SEV_VM), NONE).created!;
    const init = p.memory.mapAnonymous(0x1000) as number;
    p.memory.write(init, encodeSevInit({ vmsaFeatures: 0n, flags: 0, ghcbVersion: 0 }));
    const cmd = encodeSevCmd({ id: KVM_SEV_INIT2, data: BigInt(init), error: 0, sevFd: 0 });
    assert.equal(dispatchIoctl(sev, KVM_MEMORY_ENCRYPT_OP, 0n, cmd).result, 0);
    assert.equal(
      dispatchIoctl(sev, KVM_MEMORY_ENCRYPT_REG_REGION, 0n, whole.subarray(0, 8)).result,
      -ERRNO.EFAULT,
    );
    assert.equal(dispatchIoctl(sev, KVM_MEMORY_ENCRYPT_REG_REGION, 0n, whole).result, 0);
    const half = encodeEncRegion({ addr: ram, size: 0x1000n });
    assert.equal(dispatchIoctl(sev, KVM_MEMORY_ENCRYPT_UNREG_REGION, 0n, half).result, -ERRNO.EINVAL);
    assert.equal(dispatchIoctl(sev, KVM_MEMORY_ENCRYPT_UNREG_REGION, 0n, whole).result, 0);
  });
});

const host = oracleHost();
describe('ioctls as bytes: the real /dev/kvm agrees', { skip: host.skip }, () => {
  it('the same story, the same answers', () => {
    const kvm = host.kvm!;
    const real = story({ kvm, memory: kvm.processMemory() });
    const mine = story(model());
    assert.deepEqual(mine, real);
  });
});
