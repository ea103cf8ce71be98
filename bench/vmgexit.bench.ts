/**
 * VMGEXIT rates, end to end (guest GHCB client → VMGEXIT → KVM → back into the guest):
 * - in the kernel: CPUID through the GHCB page, CPUID through the GHCB MSR protocol;
 * - with a userspace round trip: IOIO OUT through the GHCB, answered by a VMM loop.
 * Baselines, measured the same way in the same run: a null exit — an unprotected guest's CPUID
 * (in-kernel) or OUT (userspace) — i.e. the same trip without any GHCB work. In-kernel rows count
 * #VMEXITs (each VMGEXIT is one); round-trip rows count KVM_RUN calls (each returns one exit).
 */
import type { GuestProgram } from '../src/cpu/scripted.js';
import { ScriptedGuests } from '../src/cpu/scripted-guests.js';
import { GhcbClient } from '../src/guest/ghcb-client.js';
import { HostAddressSpace } from '../src/host/address-space.js';
import { openKvm } from '../src/kvm/index.js';
import type { Vcpu } from '../src/kvm/vcpu.js';
import { sevKvmOptions } from '../src/sev/index.js';
import { KVM_X86_SEV_ES_VM } from '../src/uapi/caps.js';
import { isErrno } from '../src/uapi/errno.js';
import { encodeSevInit, KVM_SEV_INIT2 } from '../src/uapi/sev-cmd.js';
import type { Batch, BenchRow, Prepared } from './harness.js';

const HVA = 0x7f00_0000_0000;
const RAM = 0x10_0000;
const GHCB_GPA = 0x1000;
/** Where KVM_SEV_INIT2's struct kvm_sev_init lives in the process (above the guest's RAM). */
const INIT_HVA = HVA + RAM;

/** One vCPU running `program` (SEV-ES: a KVM_X86_SEV_ES_VM with GHCB v2), built through the fd interface. */
function machine(program: GuestProgram, sev: boolean): Vcpu {
  const host = new HostAddressSpace();
  const guests = new ScriptedGuests();
  const kvm = openKvm({ ...sevKvmOptions('current'), host, cpus: guests.cpus });
  const vm = kvm.createVm(sev ? KVM_X86_SEV_ES_VM : 0);
  if (isErrno(vm)) throw new Error(String(vm));
  if (sev) {
    host.mapAnonymous(INIT_HVA, 0x1000);
    host.write(INIT_HVA, encodeSevInit({ vmsaFeatures: 0n, flags: 0, ghcbVersion: 2 }));
    const r = vm.memoryEncryptOp({ id: KVM_SEV_INIT2, data: BigInt(INIT_HVA), error: 0, sevFd: 0 });
    if (isErrno(r)) throw new Error(String(r));
  }
  host.mapAnonymous(HVA, RAM);
  const set = vm.setUserMemoryRegion({
    slot: 0,
    flags: 0,
    guestPhysAddr: 0n,
    memorySize: BigInt(RAM),
    userspaceAddr: BigInt(HVA),
  });
  if (isErrno(set)) throw new Error(String(set));
  guests.load(0, { program });
  const vcpu = vm.createVcpu(0);
  if (isErrno(vcpu)) throw new Error(String(vcpu));
  // KVM-internal: the benchmark sets the in-kernel #VMEXIT budget on struct kvm_vcpu itself.
  return vcpu.vcpu;
}

/** n in-kernel #VMEXITs: the budget of #VMEXITs per KVM_RUN ends it (EINTR) after exactly n. */
function inKernel(vcpu: Vcpu): Batch {
  return (n) => {
    vcpu.maxVmexitsPerRun = n;
    const r = vcpu.run();
    if (r !== -4) throw new Error(`KVM_RUN returned ${r}, expected -EINTR from the #VMEXIT budget`);
    return vcpu.vmexits;
  };
}

/** n userspace round trips: KVM_RUN returns an exit, the VMM (here: nothing to answer) re-runs. */
function roundTrips(vcpu: Vcpu): Batch {
  return (n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      if (vcpu.run() !== 0) throw new Error('KVM_RUN failed');
      acc += vcpu.runArea.exitReason;
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
