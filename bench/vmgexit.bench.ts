/**
 * VMGEXIT rates, end to end (guest GHCB client → VMGEXIT → KVM → back into the guest):
 * - in the kernel: CPUID through the GHCB page, CPUID through the GHCB MSR protocol;
 * - with a userspace round trip: IOIO OUT through the GHCB, answered by a VMM loop.
 * Baselines, measured the same way in the same run: a null exit — an unprotected guest's CPUID
 * (in-kernel) or OUT (userspace) — i.e. the same trip without any GHCB work. In-kernel rows count
 * #VMEXITs (each VMGEXIT is one); round-trip rows count KVM_RUN calls (each returns one exit).
 */
import type { GuestProgram } from '../src/cpu/scripted.js';
import { GhcbClient } from '../src/guest/ghcb-client.js';
import type { ModelVcpuFd } from '../src/kvm/index.js';
import { KVM_X86_SEV_ES_VM } from '../src/uapi/caps.js';
import { type Errno, isErrno } from '../src/uapi/errno.js';
import { encodeSevInit, KVM_SEV_INIT2 } from '../src/uapi/sev-cmd.js';
import { modelPlatform } from '../src/vmm/platform.js';
import { isSevLaunchError, launchSevEs } from '../src/vmm/sev-launch.js';
import type { Batch, BenchRow, Prepared } from './harness.js';

const RAM = 0x10_0000;
const GHCB_GPA = 0x1000;

/** One vCPU running `program` (SEV-ES: a KVM_X86_SEV_ES_VM with GHCB v2), built through the fd interface. */
export function machine(program: GuestProgram, sev: boolean): ModelVcpuFd {
  const platform = modelPlatform({ profile: 'current' });
  const { kvm, memory, guests } = platform;
  const vm = kvm.createVm(sev ? KVM_X86_SEV_ES_VM : 0);
  if (isErrno(vm)) throw new Error(String(vm));
  if (sev) {
    const init = ok(memory.mapAnonymous(0x1000));
    memory.write(init, encodeSevInit({ vmsaFeatures: 0n, flags: 0, ghcbVersion: 2 }));
    ok(vm.memoryEncryptOp({ id: KVM_SEV_INIT2, data: BigInt(init), error: 0, sevFd: 0 }));
  }
  const hva = ok(memory.mapAnonymous(RAM));
  const set = vm.setUserMemoryRegion({
    slot: 0,
    flags: 0,
    guestPhysAddr: 0n,
    memorySize: BigInt(RAM),
    userspaceAddr: BigInt(hva),
  });
  if (set) throw new Error(String(set));
  guests.load(0, { program });
  const vcpu = ok(vm.createVcpu(0));
  if (sev) {
    const r = launchSevEs(vm, memory, { sevFd: platform.openSevDevice() });
    if (isSevLaunchError(r)) throw new Error(`launch: ${r.command}: ${r.errno}`);
  }
  return vcpu;
}

function ok<T>(r: T | Errno): T {
  if (isErrno(r)) throw new Error(String(r));
  return r;
}

/** n in-kernel #VMEXITs: the budget of #VMEXITs per KVM_RUN ends it (EINTR) after exactly n. */
export function inKernel(fd: ModelVcpuFd): Batch {
  // KVM-internal: the benchmark sets the in-kernel #VMEXIT budget on struct kvm_vcpu itself.
  const vcpu = fd.vcpu;
  return (n) => {
    vcpu.maxVmexitsPerRun = n;
    const r = vcpu.run();
    if (r !== -4) throw new Error(`KVM_RUN returned ${r}, expected -EINTR from the #VMEXIT budget`);
    return vcpu.vmexits;
  };
}

/** n userspace round trips: KVM_RUN returns an exit, the VMM (here: nothing to answer) re-runs. */
function roundTrips(fd: ModelVcpuFd): Batch {
  return (n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      if (fd.runRaw() !== 0) throw new Error('KVM_RUN failed');
      acc += fd.runArea.exitReason;
    }
    return acc;
  };
}

function nullCpuid(): Batch {
  return inKernel(
    machine(function* (cpu) {
      for (;;) yield* cpu.cpuid(0);
    }, false),
  );
}

function nullOut(): Batch {
  return roundTrips(
    machine(function* (cpu) {
      for (let v = 0; ; v++) yield* cpu.out(0x80, 1, v & 0xff);
    }, false),
  );
}

/** The three VMGEXIT rows of the SEV-ES issue. */
export const rows: readonly BenchRow[] = [
  {
    name: 'vmgexit cpuid (in-kernel)',
    unit: 'VMEXITs/s',
    target: { value: 2e6 },
    setup: (): Prepared => ({
      run: inKernel(
        machine(function* (cpu) {
          const ghcb = new GhcbClient(cpu, GHCB_GPA, { version: 2 });
          ghcb.register();
          for (;;) yield* ghcb.cpuid(0);
        }, true),
      ),
      baseline: nullCpuid(),
    }),
  },
  {
    name: 'vmgexit msr-protocol (in-kernel)',
    unit: 'VMEXITs/s',
    target: { value: 2e6 },
    setup: (): Prepared => ({
      run: inKernel(
        machine(function* (cpu) {
          const ghcb = new GhcbClient(cpu, GHCB_GPA, { version: 2 });
          for (;;) yield* ghcb.cpuidMsr(0, 0);
        }, true),
      ),
      baseline: nullCpuid(),
    }),
  },
  {
    name: 'vmgexit ioio out (userspace round trip)',
    unit: 'KVM_RUNs/s',
    target: { value: 1e6 },
    setup: (): Prepared => ({
      run: roundTrips(
        machine(function* (cpu) {
          const ghcb = new GhcbClient(cpu, GHCB_GPA, { version: 2 });
          ghcb.register();
          for (let v = 0; ; v++) yield* ghcb.ioOut(0x80, 1, v & 0xff);
        }, true),
      ),
      baseline: nullOut(),
    }),
  },
];
