/**
 * What a scenario's VMM does between two KVM_RUNs, and what it looks at there: host actions on its
 * own process (unmap, truncate, populate), memslot and capability ioctls with the errno each must
 * give, `immediate_exit`; and host checks (the kernel allocator's bytes in use, a memslot's dirty
 * bitmap, the state of the host pages behind a GPA). A step's `host:` list runs them before the
 * step; the scenario's `vmm:` list runs them at a KVM_RUN return it names (the Nth, or the first
 * after KVM entered the Nth VMGEXIT of a kind), so "nothing leaked after ENOMEM" is written in the
 * file at the point it must hold.
 */
import { z } from 'zod';
import { Errno, type ErrnoName } from '../uapi/errno.js';
import type { VmmError } from '../vmm/errors.js';
import type { SevboxCapabilityName } from '../vmm/types.js';
import { HOST_PAGE_STATES, SEVBOX_CAPS, type Vmm } from '../vmm/vmm.js';
import type { Check } from './expect.js';
import { errno, gpa, hexBytes, keyed, u64, uint } from './values.js';

/** An errno an ioctl must fail with, or `ok`. */
const ioctlResult = z.unknown().transform((v, ctx): ErrnoName | 'ok' => {
  if (v === 'ok') return 'ok';
  const r = errno.safeParse(v);
  if (r.success) return r.data;
  ctx.addIssue({ code: 'custom', message: `expected ok or an errno name such as EEXIST, got ${String(v)}` });
  return z.NEVER;
});

const capability = z.unknown().transform((v, ctx): number => {
  // sevbox's capabilities by the names machine.sev.capabilities uses.
  if (typeof v === 'string' && Object.hasOwn(SEVBOX_CAPS, v)) return SEVBOX_CAPS[v as SevboxCapabilityName];
  const r = uint(0xffff_ffff).safeParse(v);
  if (r.success) return r.data;
  ctx.addIssue({
    code: 'custom',
    message: `expected a capability: a KVM_CAP_* number or ${Object.keys(SEVBOX_CAPS).join(', ')}, got ${String(v)}`,
  });
  return z.NEVER;
});

/** A host action: on the VMM's own process, or an ioctl it makes. */
export const hostAction = keyed(
  {
    unmap: z.strictObject({ gpa, size: uint() }),
    truncate: z.strictObject({ file: z.string(), size: uint() }),
    populate: z.strictObject({ gpa, hex: hexBytes }),
    /**
     * KVM_SET_USER_MEMORY_REGION: create, move, re-flag or (size 0) delete a memslot. Its host
     * address is `hva`, or `offset` bytes into the mapping of the RAM region named `ram`.
     */
    'set-memory-region': z.strictObject({
      slot: uint(0xffff_ffff),
      flags: uint(0xffff_ffff).default(0),
      gpa: u64.default(0n),
      size: u64,
      ram: z.string().optional(),
      offset: uint().default(0),
      hva: u64.optional(),
      expect: ioctlResult.default('ok'),
    }),
    /** KVM_ENABLE_CAP on the VM. */
    'enable-cap': z.strictObject({
      cap: capability,
      args: z.array(u64).max(4).default([]),
      expect: ioctlResult.default('ok'),
    }),
    /** kvm_run.immediate_exit of a vCPU: its next KVM_RUN returns EINTR at once while it is set. */
    'immediate-exit': z.strictObject({ vcpu: uint().default(0), value: uint(0xff).default(1) }),
  },
  'a host action',
);
/** A host action, parsed: `{ key: 'unmap', value: { gpa, size } }`. */
export type HostAction = z.output<typeof hostAction>;

/** What a host action did: undefined when it did what was asked, else why not. */
export function applyHostAction(vmm: Vmm, a: HostAction): string | undefined {
  switch (a.key) {
    case 'unmap':
      return vmmFailure(vmm.unmapGpa(a.value.gpa, a.value.size));
    case 'truncate':
      return vmmFailure(vmm.truncateFile(a.value.file, a.value.size));
    case 'populate':
      return vmmFailure(vmm.populate(a.value.gpa, a.value.hex));
    case 'set-memory-region': {
      const v = a.value;
      let hva = v.hva;
      if (hva === undefined && v.ram !== undefined) {
        const r = vmm.ram.regions.find((x) => x.name === v.ram);
        if (!r) return `no RAM region named "${v.ram}"`;
        hva = BigInt(r.hva + v.offset);
      }
      const r = vmm.vm.setUserMemoryRegion({
        slot: v.slot,
        flags: v.flags,
        guestPhysAddr: v.gpa,
        memorySize: v.size,
        userspaceAddr: hva ?? 0n,
      });
      return ioctlOutcome('KVM_SET_USER_MEMORY_REGION', r, v.expect);
    }
    case 'enable-cap': {
      const r = vmm.vm.enableCap({
        cap: a.value.cap,
        flags: 0,
        args: [0, 1, 2, 3].map((i) => a.value.args[i] ?? 0n),
      });
      return ioctlOutcome('KVM_ENABLE_CAP', r, a.value.expect);
    }
    case 'immediate-exit': {
      const v = vmm.vcpus[a.value.vcpu];
      if (!v) return `no vCPU ${a.value.vcpu}`;
      v.fd.runArea.immediateExit = a.value.value;
      return undefined;
    }
    default: {
      const never: never = a;
      return `unknown host action ${JSON.stringify(never)}`;
    }
  }
}

/** A VMM call's error as the check's message, or undefined when it did what was asked. */
function vmmFailure(err: VmmError | undefined): string | undefined {
  return err ? `${err.errno}: ${err.message}` : undefined;
}

/** An ioctl's result against the one expected: undefined when they agree, else what happened. */
function ioctlOutcome(name: string, r: unknown, want: ErrnoName | 'ok'): string | undefined {
  const got: ErrnoName | 'ok' = r instanceof Errno ? r.errno : 'ok';
  if (got === want) return undefined;
  return `${name}: expected ${want}, got ${got}${r instanceof Errno && r.detail ? ` (${r.detail})` : ''}`;
}

/** What the VMM looks at between two KVM_RUNs. */
export const hostCheck = keyed(
  {
    /** Bytes the kernel allocator KVM charges has in use (the model's). */
    allocator: z.strictObject({ inUse: uint() }),
    /** KVM_GET_DIRTY_LOG of a memslot (which clears it): the page indices whose bits are set. */
    'dirty-log': z.strictObject({ slot: uint(0xffff_ffff), pages: z.array(uint()) }),
    /** The state of the host pages behind [gpa, gpa + size). */
    mapping: z.strictObject({
      gpa,
      size: uint().default(0x1000),
      state: z.enum(HOST_PAGE_STATES, {
        error: () => `expected a page state: ${HOST_PAGE_STATES.join(', ')}`,
      }),
    }),
  },
  'a host check',
);
/** A host check, parsed. */
export type HostCheck = z.output<typeof hostCheck>;

const hex = (n: number | bigint): string => `0x${n.toString(16)}`;

/** Look: the check's result, `path` naming it in the file. */
export function checkHost(vmm: Vmm, c: HostCheck, path: string, when: string): Check {
  const result = (ok: boolean, what: string): Check => ({ path, ok, message: `${when}: ${what}` });
  switch (c.key) {
    case 'allocator': {
      const got = vmm.allocator?.inUse();
      if (got === undefined) return result(false, 'the kernel allocator is not the model’s: nothing to read');
      return got === c.value.inUse
        ? result(true, `kernel allocator: ${got} bytes in use`)
        : result(false, `expected ${c.value.inUse} bytes in use by the kernel allocator, got ${got}`);
    }
    case 'dirty-log': {
      const bitmap = vmm.vm.getDirtyLog(c.value.slot);
      if (bitmap instanceof Errno)
        return result(false, `KVM_GET_DIRTY_LOG slot ${c.value.slot} failed: ${bitmap.errno}`);
      const set: number[] = [];
      bitmap.forEach((b, i) => {
        for (let k = 0; k < 8; k++) if (b & (1 << k)) set.push(i * 8 + k);
      });
      const want = [...c.value.pages].sort((a, b) => a - b);
      const ok = want.length === set.length && want.every((p, i) => p === set[i]);
      return result(
        ok,
        ok
          ? `slot ${c.value.slot} dirty pages [${set.join(', ')}]`
          : `expected slot ${c.value.slot} dirty pages [${want.join(', ')}], got [${set.join(', ')}]`,
      );
    }
    case 'mapping': {
      const { gpa: at, size, state } = c.value;
      for (let off = 0; off < size; off += 0x1000) {
        const got = vmm.hostPageState(at + off) ?? 'in no RAM region';
        if (got !== state)
          return result(false, `expected the host page behind ${hex(at + off)} ${state}, got ${got}`);
      }
      return result(true, `host pages behind ${hex(at)} + ${hex(size)}: ${state}`);
    }
    default: {
      const never: never = c;
      return result(false, `unknown host check ${JSON.stringify(never)}`);
    }
  }
}

/**
 * Where in the run a `vmm:` entry acts: at the KVM_RUN return with index `exit` (exits and failed
 * KVM_RUNs counted from 0), or at the `run`-th KVM_RUN return (from 0) since KVM entered the `nth`
 * VMGEXIT (from 0) of the event `vmgexit` (as the report names it: SVM_VMGEXIT_MMIO_READ,
 * GHCB_MSR_CPUID_REQ…), on `vcpu` if given. After the VMM handled an exit; before its policies
 * decide about a failed KVM_RUN.
 */
export const vmmTrigger = z
  .strictObject({
    exit: uint().optional(),
    vmgexit: z.string().min(1).optional(),
    nth: uint().default(0),
    run: uint().default(0),
    vcpu: uint().optional(),
  })
  .refine((t) => (t.exit === undefined) !== (t.vmgexit === undefined), {
    message: 'expected exactly one of exit: <KVM_RUN index> or vmgexit: <event name>',
  });
export type VmmTrigger = z.output<typeof vmmTrigger>;

/** One `vmm:` entry: what the VMM checks (first: the state KVM_RUN left) and does at a point of the run. */
export const vmmEntry = z.strictObject({
  name: z.string().optional(),
  at: vmmTrigger,
  do: z.array(hostAction).default([]),
  check: z.array(hostCheck).default([]),
});
export type VmmEntry = z.output<typeof vmmEntry>;
