/**
 * VMGEXIT rates, end to end (guest GHCB client → VMGEXIT → KVM → back into the guest):
 * - in the kernel: CPUID through the GHCB page, CPUID through the GHCB MSR protocol;
 * - with a userspace round trip: IOIO OUT through the GHCB, answered by a VMM loop.
 * Baselines, measured the same way in the same run: a null exit — an unprotected guest's CPUID
 * (in-kernel) or OUT (userspace) — i.e. the same trip without any GHCB work.
 */
import { ScriptedCpu } from '../src/cpu/scripted.js';
import { GhcbClient } from '../src/guest/ghcb-client.js';
import { Kvm } from '../src/kvm/index.js';
import type { Vcpu } from '../src/kvm/vcpu.js';
import { sevEsVmType } from '../src/sev/index.js';
import { KVM_X86_SEV_ES_VM } from '../src/uapi/caps.js';
import type { Batch, BenchRow, Prepared } from './harness.js';

const HVA = 0x7f00_0000_0000;
const RAM = 0x10_0000;
const GHCB_GPA = 0x1000;

type Program = ConstructorParameters<typeof ScriptedCpu>[0];

function machine(program: Program, sev: boolean): Vcpu {
  const kvm = new Kvm({ vmTypes: [sevEsVmType] });
  const vm = sev ? kvm.createVm(KVM_X86_SEV_ES_VM, { profile: 'current', ghcbVersion: 2 }) : kvm.createVm();
  kvm.host.mapAnonymous(HVA, RAM);
  vm.setUserMemoryRegion({
    slot: 0,
    flags: 0,
    guestPhysAddr: 0n,
    memorySize: BigInt(RAM),
    userspaceAddr: BigInt(HVA),
  });
  return vm.createVcpu(0, new ScriptedCpu(program, { protectedState: sev }));
}

/** n in-kernel exits: the in-kernel exit budget ends KVM_RUN (EINTR) after exactly n. */
function inKernel(vcpu: Vcpu): Batch {
  return (n) => {
    vcpu.maxInKernelExits = n;
    const r = vcpu.runRaw();
    if (r !== -4) throw new Error(`KVM_RUN returned ${r}, expected -EINTR from the exit budget`);
    return vcpu.exits;
  };
}

/** n userspace round trips: KVM_RUN returns an exit, the VMM (here: nothing to answer) re-runs. */
function roundTrips(vcpu: Vcpu): Batch {
  return (n) => {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      if (vcpu.runRaw() !== 0) throw new Error('KVM_RUN failed');
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
    unit: 'exits/s',
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
    unit: 'exits/s',
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
    unit: 'exits/s',
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
