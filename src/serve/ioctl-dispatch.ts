/**
 * The fd ABI in bytes: an ioctl number, its by-value argument and the bytes of the struct it points
 * to — what a C client hands the kernel — turned into the method of src/uapi/kvm-fd.ts, and the
 * answer back into the return value and the bytes the kernel would copy out. This is the switch of
 * kvm_dev_ioctl / kvm_vm_ioctl / kvm_vcpu_ioctl (virt/kvm/kvm_main.c, arch/x86/kvm/x86.c) over sevbox's
 * fds: `sevbox serve` (docs/kvm-shim-protocol.md) runs it for the /dev/kvm shim, and tests run it
 * directly with the bytes a client would send.
 *
 * Failures are the kernel's: a negative errno as the result, nothing copied out. An ioctl the fd
 * does not know is what the kernel answers for it: -EINVAL on /dev/kvm and vCPU fds
 * (kvm_arch_dev_ioctl, kvm_arch_vcpu_ioctl), -ENOTTY on VM fds (kvm_arch_vm_ioctl). Structs shorter
 * than the ioctl's size are -EFAULT (copy_from_user of memory the client does not have).
 *
 * First wave: the system ioctls, memslots, vCPU creation and KVM_RUN, the register and state ioctls
 * the selftests' library uses. Ioctls whose structs carry pointers (dirty logs, MSR filters,
 * KVM_MEMORY_ENCRYPT_OP) come with the shim's marshalling of their pointees.
 */
import { decodeCpuid2, encodeCpuid2 } from '../uapi/cpuid.js';
import { decodeDebugregs, encodeDebugregs, KVM_DEBUGREGS_SIZE } from '../uapi/debugregs.js';
import { decodeDeviceAttr, KVM_DEVICE_ATTR_SIZE } from '../uapi/device-attr.js';
import { decodeEnableCap, KVM_ENABLE_CAP_SIZE } from '../uapi/enable-cap.js';
import { ERRNO, Errno } from '../uapi/errno.js';
import { decodeFpu, encodeFpu, KVM_FPU_SIZE } from '../uapi/fpu.js';
import {
  KVM_CHECK_EXTENSION,
  KVM_CREATE_IRQCHIP,
  KVM_CREATE_VCPU,
  KVM_CREATE_VM,
  KVM_ENABLE_CAP,
  KVM_GET_API_VERSION,
  KVM_GET_CPUID2,
  KVM_GET_DEBUGREGS,
  KVM_GET_DEVICE_ATTR,
  KVM_GET_FPU,
  KVM_GET_MP_STATE,
  KVM_GET_MSR_INDEX_LIST,
  KVM_GET_MSRS,
  KVM_GET_REGS,
  KVM_GET_SREGS,
  KVM_GET_SUPPORTED_CPUID,
  KVM_GET_TSC_KHZ,
  KVM_GET_VCPU_EVENTS,
  KVM_GET_VCPU_MMAP_SIZE,
  KVM_GET_XCRS,
  KVM_GET_XSAVE,
  KVM_GET_XSAVE2,
  KVM_HAS_DEVICE_ATTR,
  KVM_INTERRUPT,
  KVM_MEMORY_ENCRYPT_OP,
  KVM_MEMORY_ENCRYPT_REG_REGION,
  KVM_MEMORY_ENCRYPT_UNREG_REGION,
  KVM_NMI,
  KVM_RUN,
  KVM_SET_CPUID2,
  KVM_SET_DEBUGREGS,
  KVM_SET_FPU,
  KVM_SET_IDENTITY_MAP_ADDR,
  KVM_SET_MP_STATE,
  KVM_SET_MSRS,
  KVM_SET_NR_MMU_PAGES,
  KVM_SET_REGS,
  KVM_SET_SREGS,
  KVM_SET_TSS_ADDR,
  KVM_SET_USER_MEMORY_REGION,
  KVM_SET_USER_MEMORY_REGION2,
  KVM_SET_VCPU_EVENTS,
  KVM_SET_XCRS,
  KVM_SET_XSAVE,
  KVM_X86_SET_MSR_FILTER,
} from '../uapi/ioctl.js';
import { decodeInterrupt, decodeMpState, encodeMpState } from '../uapi/irq.js';
import type { KvmFd, VcpuFd, VmFd } from '../uapi/kvm-fd.js';
import {
  decodeUserspaceMemoryRegion,
  decodeUserspaceMemoryRegion2,
  KVM_USERSPACE_MEMORY_REGION_SIZE,
  KVM_USERSPACE_MEMORY_REGION2_SIZE,
} from '../uapi/memslot.js';
import { decodeMsrFilter, KVM_MSR_FILTER_SIZE } from '../uapi/msr-filter.js';
import { decodeMsrList, decodeMsrs, encodeMsrList, encodeMsrs } from '../uapi/msrs.js';
import { decodeRegs, encodeRegs, KVM_REGS_SIZE } from '../uapi/regs.js';
import {
  decodeEncRegion,
  decodeSevCmd,
  encodeSevCmd,
  KVM_ENC_REGION_SIZE,
  KVM_SEV_CMD_SIZE,
  SevCmdErrno,
} from '../uapi/sev-cmd.js';
import { decodeSregs, encodeSregs, KVM_SREGS_SIZE } from '../uapi/sregs.js';
import { decodeVcpuEvents, encodeVcpuEvents, KVM_VCPU_EVENTS_SIZE } from '../uapi/vcpu-events.js';
import {
  decodeXcrs,
  decodeXsave,
  encodeXcrs,
  encodeXsave,
  KVM_XCRS_SIZE,
  KVM_XSAVE_SIZE,
} from '../uapi/xsave.js';

/**
 * The client's memory behind pointers inside an argument (copy_from_user / copy_to_user): a fault
 * is returned, never thrown. The model's HostAddressSpace is one.
 */
export interface UserMemory {
  read(hva: number, dst: Uint8Array): unknown;
  write(hva: number, src: Uint8Array): unknown;
}

/** copy_to_user of `bytes` at the user address `addr`: false when it faults. */
function putUser(user: UserMemory | undefined, addr: bigint, bytes: Uint8Array): boolean {
  if (!user || addr > BigInt(Number.MAX_SAFE_INTEGER)) return false;
  return user.write(Number(addr), bytes) === undefined;
}

/** copy_from_user of up to `len` bytes at `addr`: the bytes before the first fault (all of them, or fewer). */
function getUser(user: UserMemory | undefined, addr: bigint, len: number): Uint8Array {
  if (!user || addr > BigInt(Number.MAX_SAFE_INTEGER)) return new Uint8Array(0);
  const hva = Number(addr);
  const dst = new Uint8Array(len);
  const fault = user.read(hva, dst) as { hva: number } | undefined;
  return fault === undefined ? dst : dst.subarray(0, Math.max(0, fault.hva - hva));
}

/** An fd the dispatcher answers for, by what it is. */
export type KvmHandle =
  | { readonly kind: 'system'; readonly fd: KvmFd }
  | { readonly kind: 'vm'; readonly fd: VmFd }
  | { readonly kind: 'vcpu'; readonly fd: VcpuFd };

/** The kernel's answer: the ioctl's return value (a negative errno on failure), what it copies out. */
export interface IoctlReply {
  readonly result: number;
  /** Bytes written back over the argument struct (from its start), if any. */
  readonly out?: Uint8Array;
  /** An fd the ioctl created: the server gives it a handle, which becomes `result`. */
  readonly created?: KvmHandle;
}

const fail = (e: Errno): IoctlReply => ({ result: -e.value });
const ok = (out?: Uint8Array): IoctlReply => (out ? { result: 0, out } : { result: 0 });
const EFAULT: IoctlReply = { result: -ERRNO.EFAULT };
const EINVAL: IoctlReply = { result: -ERRNO.EINVAL };
const ENOTTY: IoctlReply = { result: -ERRNO.ENOTTY };

/** `f`'s result as a reply: an Errno fails, anything else is 0 with `out` of it. */
function reply<T>(r: T | Errno, out?: (v: T) => Uint8Array): IoctlReply {
  if (r instanceof Errno) return fail(r);
  return ok(out ? out(r) : undefined);
}

/** An ioctl that returns a value: the value, or the errno it failed with. */
const value = (r: number | Errno): IoctlReply => (r instanceof Errno ? fail(r) : { result: r });

/** The struct must be all there (copy_from_user), else EFAULT. */
const needs = (input: Uint8Array, size: number): boolean => input.length >= size;

/**
 * One ioctl on `h`: `arg` is the by-value argument, `input` the bytes the argument points to, `user`
 * the client's memory for the pointers inside it (absent: every such pointer faults).
 */
export function dispatchIoctl(
  h: KvmHandle,
  cmd: number,
  arg: bigint,
  input: Uint8Array,
  user?: UserMemory,
): IoctlReply {
  switch (h.kind) {
    case 'system':
      return systemIoctl(h.fd, cmd, arg, input, user);
    case 'vm':
      return vmIoctl(h.fd, cmd, arg, input, user);
    default:
      return vcpuIoctl(h.fd, cmd, arg, input);
  }
}

/** kvm_dev_ioctl. */
function systemIoctl(
  fd: KvmFd,
  cmd: number,
  arg: bigint,
  input: Uint8Array,
  user: UserMemory | undefined,
): IoctlReply {
  switch (cmd) {
    case KVM_GET_API_VERSION:
      // A non-zero argument is EINVAL (kvm_dev_ioctl).
      return arg ? EINVAL : { result: fd.getApiVersion() };
    case KVM_CHECK_EXTENSION:
      return { result: fd.checkExtension(Number(BigInt.asUintN(32, arg))) };
    case KVM_GET_VCPU_MMAP_SIZE:
      return arg ? EINVAL : value(fd.getVcpuMmapSize());
    case KVM_CREATE_VM: {
      const r = fd.createVm(Number(BigInt.asUintN(32, arg)));
      return r instanceof Errno ? fail(r) : { result: 0, created: { kind: 'vm', fd: r } };
    }
    case KVM_GET_SUPPORTED_CPUID: {
      if (!needs(input, 8)) return EFAULT;
      const { nent } = decodeCpuid2(input.subarray(0, 8));
      const r = fd.getSupportedCpuid(nent);
      return reply(r, (entries) => encodeCpuid2({ nent: entries.length, entries }));
    }
    case KVM_GET_MSR_INDEX_LIST: {
      if (!needs(input, 4)) return EFAULT;
      const room = decodeMsrList(input.subarray(0, 4)).nmsrs;
      const r = fd.getMsrIndexList();
      if (r instanceof Errno) return fail(r);
      // kvm_arch_dev_ioctl: nmsrs is written back either way; E2BIG when the room is short.
      const head = encodeMsrList({ nmsrs: r.length, indices: [] });
      if (room < r.length) return { result: -ERRNO.E2BIG, out: head };
      return ok(encodeMsrList({ nmsrs: r.length, indices: r }));
    }
    case KVM_GET_DEVICE_ATTR:
    case KVM_HAS_DEVICE_ATTR: {
      if (!needs(input, KVM_DEVICE_ATTR_SIZE)) return EFAULT;
      const a = decodeDeviceAttr(input);
      const group = a.group;
      const attr = Number(BigInt.asUintN(32, a.attr));
      if (cmd === KVM_HAS_DEVICE_ATTR) return reply(fd.hasDeviceAttr(group, attr));
      const r = fd.getDeviceAttr(group, attr);
      if (r instanceof Errno) return fail(r);
      // kvm_x86_dev_get_attr: put_user of the u64 at attr.addr.
      const value = new Uint8Array(8);
      new DataView(value.buffer).setBigUint64(0, BigInt.asUintN(64, r), true);
      return putUser(user, a.addr, value) ? ok() : EFAULT;
    }
    default:
      return EINVAL;
  }
}

/** kvm_vm_ioctl. */
function vmIoctl(
  fd: VmFd,
  cmd: number,
  arg: bigint,
  input: Uint8Array,
  user: UserMemory | undefined,
): IoctlReply {
  switch (cmd) {
    case KVM_CHECK_EXTENSION:
      return { result: fd.checkExtension(Number(BigInt.asUintN(32, arg))) };
    case KVM_CREATE_VCPU: {
      const r = fd.createVcpu(Number(BigInt.asUintN(32, arg)));
      return r instanceof Errno ? fail(r) : { result: 0, created: { kind: 'vcpu', fd: r } };
    }
    case KVM_SET_USER_MEMORY_REGION:
      if (!needs(input, KVM_USERSPACE_MEMORY_REGION_SIZE)) return EFAULT;
      return reply(fd.setUserMemoryRegion(decodeUserspaceMemoryRegion(input)));
    case KVM_SET_USER_MEMORY_REGION2:
      if (!needs(input, KVM_USERSPACE_MEMORY_REGION2_SIZE)) return EFAULT;
      return reply(fd.setUserMemoryRegion2(decodeUserspaceMemoryRegion2(input)));
    case KVM_GET_TSC_KHZ:
      return value(fd.getTscKhz());
    case KVM_X86_SET_MSR_FILTER: {
      if (!needs(input, KVM_MSR_FILTER_SIZE)) return EFAULT;
      const f = decodeMsrFilter(input);
      // memdup_user of each used range's bitmap, BITS_TO_LONGS(nmsrs) longs (at most the 0x600 bytes
      // KVM would accept): what the client has of it; the model answers EFAULT when it is short.
      const ranges = f.ranges.map((r) => ({
        flags: r.flags,
        base: r.base,
        nmsrs: r.nmsrs,
        bitmap:
          r.nmsrs === 0
            ? new Uint8Array(0)
            : getUser(user, r.bitmap, Math.min(Math.ceil(r.nmsrs / 64) * 8, 0x600)),
      }));
      return reply(fd.setMsrFilter({ flags: f.flags, ranges }));
    }
    case KVM_ENABLE_CAP:
      if (!needs(input, KVM_ENABLE_CAP_SIZE)) return EFAULT;
      return reply(fd.enableCap(decodeEnableCap(input)));
    case KVM_SET_IDENTITY_MAP_ADDR: {
      // Its argument is a pointer to a u64 (kvm_vm_ioctl_set_identity_map_addr copies 8 bytes).
      if (!needs(input, 8)) return EFAULT;
      return reply(
        fd.setIdentityMapAddress(new DataView(input.buffer, input.byteOffset, 8).getBigUint64(0, true)),
      );
    }
    case KVM_SET_TSS_ADDR:
      return reply(fd.setTssAddress(Number(BigInt.asUintN(32, arg))));
    case KVM_SET_NR_MMU_PAGES:
      // unsigned long by value; KVM_GET_NR_MMU_PAGES is gone since 6.4 (ENOTTY below).
      return reply(fd.setNrMmuPages(BigInt.asUintN(64, arg)));
    case KVM_CREATE_IRQCHIP:
      return reply(fd.createIrqchip());
    case KVM_MEMORY_ENCRYPT_OP: {
      // Declared with `unsigned long`, but the kernel copies struct kvm_sev_cmd, and copies it back
      // after every command it knows, failed or not (sev_mem_enc_ioctl).
      if (!needs(input, KVM_SEV_CMD_SIZE)) return EFAULT;
      const r = fd.memoryEncryptOp(decodeSevCmd(input));
      if (r instanceof SevCmdErrno) return { result: -r.value, out: encodeSevCmd(r.cmd) };
      if (r instanceof Errno) return fail(r);
      return ok(encodeSevCmd(r));
    }
    // kvm_arch_vm_ioctl copies struct kvm_enc_region in (EFAULT), then the vendor op (ENOTTY without one).
    case KVM_MEMORY_ENCRYPT_REG_REGION:
      if (!needs(input, KVM_ENC_REGION_SIZE)) return EFAULT;
      return reply(fd.memoryEncryptRegRegion(decodeEncRegion(input)));
    case KVM_MEMORY_ENCRYPT_UNREG_REGION:
      if (!needs(input, KVM_ENC_REGION_SIZE)) return EFAULT;
      return reply(fd.memoryEncryptUnregRegion(decodeEncRegion(input)));
    default:
      return ENOTTY;
  }
}

/** kvm_vcpu_ioctl / kvm_arch_vcpu_ioctl. */
function vcpuIoctl(fd: VcpuFd, cmd: number, arg: bigint, input: Uint8Array): IoctlReply {
  switch (cmd) {
    case KVM_RUN: {
      // A non-zero argument is EINVAL (kvm_vcpu_ioctl); the exit is in the shared kvm_run.
      if (arg) return EINVAL;
      return { result: fd.runRaw() };
    }
    case KVM_GET_REGS:
      return reply(fd.getRegs(), (r) => encodeRegs(r));
    case KVM_SET_REGS:
      if (!needs(input, KVM_REGS_SIZE)) return EFAULT;
      return reply(fd.setRegs(decodeRegs(input)));
    case KVM_GET_SREGS:
      return reply(fd.getSregs(), (r) => encodeSregs(r));
    case KVM_SET_SREGS:
      if (!needs(input, KVM_SREGS_SIZE)) return EFAULT;
      return reply(fd.setSregs(decodeSregs(input)));
    case KVM_GET_FPU:
      return reply(fd.getFpu(), (r) => encodeFpu(r));
    case KVM_SET_FPU:
      if (!needs(input, KVM_FPU_SIZE)) return EFAULT;
      return reply(fd.setFpu(decodeFpu(input)));
    case KVM_GET_XCRS:
      return reply(fd.getXcrs(), (r) => encodeXcrs(r));
    case KVM_SET_XCRS:
      if (!needs(input, KVM_XCRS_SIZE)) return EFAULT;
      return reply(fd.setXcrs(decodeXcrs(input)));
    case KVM_GET_XSAVE:
      // struct kvm_xsave's 4096 bytes (KVM_GET_XSAVE refuses a larger uabi_size with EINVAL).
      return reply(fd.getXsave(), (x) => encodeXsave({ region: x.region }));
    case KVM_GET_XSAVE2:
      // uabi_size bytes: KVM_CAP_XSAVE2's count.
      return reply(fd.getXsave2(), (x) => encodeXsave(x));
    case KVM_SET_XSAVE:
      if (!needs(input, KVM_XSAVE_SIZE)) return EFAULT;
      return reply(fd.setXsave(decodeXsave(input)));
    case KVM_GET_DEBUGREGS:
      return reply(fd.getDebugregs(), (d) => encodeDebugregs(d));
    case KVM_SET_DEBUGREGS:
      if (!needs(input, KVM_DEBUGREGS_SIZE)) return EFAULT;
      return reply(fd.setDebugregs(decodeDebugregs(input)));
    case KVM_GET_VCPU_EVENTS:
      return reply(fd.getVcpuEvents(), (r) => encodeVcpuEvents(r));
    case KVM_SET_VCPU_EVENTS:
      if (!needs(input, KVM_VCPU_EVENTS_SIZE)) return EFAULT;
      return reply(fd.setVcpuEvents(decodeVcpuEvents(input)));
    case KVM_GET_MP_STATE:
      return reply(fd.getMpState(), (s) => encodeMpState({ mpState: s }));
    case KVM_SET_MP_STATE:
      if (!needs(input, 4)) return EFAULT;
      return reply(fd.setMpState(decodeMpState(input).mpState));
    case KVM_SET_CPUID2: {
      if (!needs(input, 8)) return EFAULT;
      const c = decodeCpuid2(input);
      // The entries the count names must all be there.
      if (c.entries.length < c.nent) return EFAULT;
      return reply(fd.setCpuid2(c.entries));
    }
    case KVM_GET_CPUID2: {
      if (!needs(input, 8)) return EFAULT;
      const { nent } = decodeCpuid2(input.subarray(0, 8));
      return reply(fd.getCpuid2(nent), (entries) => encodeCpuid2({ nent: entries.length, entries }));
    }
    case KVM_GET_MSRS: {
      if (!needs(input, 8)) return EFAULT;
      const m = decodeMsrs(input);
      if (m.entries.length < m.nmsrs) return EFAULT;
      const r = fd.getMsrs(m.entries.map((e) => e.index));
      if (r instanceof Errno) return fail(r);
      // The result is how many were read; the entries come back with their data.
      return { result: r.length, out: encodeMsrs({ nmsrs: m.nmsrs, entries: r }) };
    }
    case KVM_SET_MSRS: {
      if (!needs(input, 8)) return EFAULT;
      const m = decodeMsrs(input);
      if (m.entries.length < m.nmsrs) return EFAULT;
      return value(fd.setMsrs(m.entries));
    }
    case KVM_INTERRUPT:
      if (!needs(input, 4)) return EFAULT;
      return reply(fd.interrupt(decodeInterrupt(input).irq));
    case KVM_NMI:
      return reply(fd.nmi());
    case KVM_GET_TSC_KHZ:
      return value(fd.getTscKhz());
    default:
      return EINVAL;
  }
}
