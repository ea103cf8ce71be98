/**
 * KVM's SEV launch commands through the fd interface, as a VMM issues them: KVM_MEMORY_ENCRYPT_OP
 * with kvm_sev_cmd, the data structs written into the model process's memory with the uapi
 * encoders, /dev/sev opened by the platform (docs/sev-launch-rules.md §1, §3). Each check comes in
 * KVM's order: ENOTTY (no SEV guest), EFAULT (the struct), sev_pin_memory (EINVAL, ENOMEM), EBADF
 * (the /dev/sev fd), then the firmware (EIO with its status in kvm_sev_cmd.error).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { PROT_READ } from '../host/address-space.js';
import { ok } from '../kvm/test-util.js';
import { sevLaunchMeasurement } from '../psp/firmware.js';
import { XtsEngine } from '../psp/xts-engine.js';
import { KVM_X86_SEV_ES_VM } from '../uapi/caps.js';
import type { ErrnoName } from '../uapi/errno.js';
import type { VmFd } from '../uapi/kvm-fd.js';
import {
  SEV_GSTATE_LSECRET,
  SEV_GSTATE_LUPDATE,
  SEV_GSTATE_RUNNING,
  SEV_POLICY_ES,
  SEV_POLICY_NODBG,
  SEV_RET_ASID_OWNED,
  SEV_RET_INVALID_ADDRESS,
  SEV_RET_INVALID_GUEST_STATE,
  SEV_RET_INVALID_LEN,
  SEV_RET_POLICY_FAILURE,
} from '../uapi/psp-sev.js';
import {
  decodeSevGuestStatus,
  decodeSevLaunchStart,
  decodeSevUaddrLen,
  encodeSevDbg,
  encodeSevInit,
  encodeSevLaunchSecret,
  encodeSevLaunchStart,
  encodeSevUaddrLen,
  KVM_SEV_DBG_DECRYPT,
  KVM_SEV_DBG_ENCRYPT,
  KVM_SEV_ES_INIT,
  KVM_SEV_GUEST_STATUS,
  KVM_SEV_GUEST_STATUS_SIZE,
  KVM_SEV_INIT2,
  KVM_SEV_LAUNCH_FINISH,
  KVM_SEV_LAUNCH_MEASURE,
  KVM_SEV_LAUNCH_SECRET,
  KVM_SEV_LAUNCH_START,
  KVM_SEV_LAUNCH_UPDATE_DATA,
  KVM_SEV_LAUNCH_UPDATE_VMSA,
  type KvmSevCmd,
  type KvmSevLaunchStart,
  newContextLaunchStart,
  SevCmdErrno,
} from '../uapi/sev-cmd.js';
import { type ModelPlatformOptions, modelPlatform } from '../vmm/platform.js';

/** An address nothing is mapped at. */
const UNMAPPED = 0x10_0000n;

/** An SEV-ES VM (INIT2 on current, ES_INIT on a default VM for v5.17), /dev/sev open, memory to pass structs in. */
function sevVm(
  opts: { profile?: 'current' | 'prefix'; init?: boolean; psp?: ModelPlatformOptions['psp'] } = {},
) {
  const profile = opts.profile ?? 'current';
  const p = modelPlatform({ profile, ...(opts.psp && { psp: opts.psp }) });
  const legacy = profile !== 'current';
  const vm = ok(p.kvm.createVm(legacy ? 0 : KVM_X86_SEV_ES_VM));
  const arg = ok(p.memory.mapAnonymous(0x1000));
  const ram = ok(p.memory.mapAnonymous(0x4000));
  if (opts.init !== false) {
    if (legacy) ok(vm.memoryEncryptOp({ id: KVM_SEV_ES_INIT, data: 0n, error: 0, sevFd: 0 }));
    else {
      ok(p.memory.write(arg, encodeSevInit({ vmsaFeatures: 0n, flags: 0, ghcbVersion: 2 })));
      ok(vm.memoryEncryptOp({ id: KVM_SEV_INIT2, data: BigInt(arg), error: 0, sevFd: 0 }));
    }
  }
  const sevFd = p.openSevDevice();
  /** KVM_MEMORY_ENCRYPT_OP with `struct` (if any) written at `arg`. */
  const op = (id: number, struct?: Uint8Array, extra: Partial<KvmSevCmd> = {}) => {
    if (struct) assert.equal(p.memory.write(arg, struct), undefined);
    return vm.memoryEncryptOp({ id, data: struct ? BigInt(arg) : 0n, error: 0, sevFd: 0, ...extra });
  };
  /** The struct at `arg` as KVM left it. */
  const argBytes = (n: number) => {
    const b = new Uint8Array(n);
    assert.equal(p.memory.read(arg, b), undefined);
    return b;
  };
  /** LAUNCH_START with `o` over a plain ES launch, through the /dev/sev fd unless `extra` says otherwise. */
  const start = (o: Partial<KvmSevLaunchStart> = {}, extra: Partial<KvmSevCmd> = {}) =>
    op(KVM_SEV_LAUNCH_START, encodeSevLaunchStart(newContextLaunchStart(SEV_POLICY_ES, o)), {
      sevFd,
      ...extra,
    });
  const update = (uaddr: bigint | number, len: number) =>
    op(KVM_SEV_LAUNCH_UPDATE_DATA, encodeSevUaddrLen({ uaddr: BigInt(uaddr), len }));
  const measure = (uaddr: bigint | number, len: number) =>
    op(KVM_SEV_LAUNCH_MEASURE, encodeSevUaddrLen({ uaddr: BigInt(uaddr), len }));
  const status = () => {
    const r = op(KVM_SEV_GUEST_STATUS, new Uint8Array(KVM_SEV_GUEST_STATUS_SIZE));
    return r instanceof SevCmdErrno ? r : decodeSevGuestStatus(argBytes(KVM_SEV_GUEST_STATUS_SIZE));
  };
  const dbg = (dec: boolean, src: number, dst: number, len: number) =>
    op(
      dec ? KVM_SEV_DBG_DECRYPT : KVM_SEV_DBG_ENCRYPT,
      encodeSevDbg({ srcUaddr: BigInt(src), dstUaddr: BigInt(dst), len }),
    );
  return { p, vm: vm as VmFd, arg, ram, sevFd, op, argBytes, start, update, measure, status, dbg };
}

/** A failure with kvm_sev_cmd copied back: its errno and, when given, the firmware status in `error`. */
function fails(r: unknown, errno: ErrnoName, error?: number): SevCmdErrno {
  assert.ok(r instanceof SevCmdErrno, `expected ${errno}, got ${String(r)}`);
  assert.equal(r.errno, errno, r.toString());
  if (error !== undefined) assert.equal(r.cmd.error, error, `error: ${r.toString()}`);
  return r;
}

const DATA = new Uint8Array(0x1800).map((_, i) => (i * 13) & 0xff);

describe('KVM_SEV launch: the whole flow', () => {
  for (const profile of ['current', 'prefix'] as const) {
    it(`[${profile}] START → UPDATE_DATA → MEASURE (query, then the blob) → SECRET → FINISH, GUEST_STATUS all along`, () => {
      const t = sevVm({ profile, psp: { seed: 'flow' } });
      const r = ok(t.start());
      assert.equal(r.error, 0);
      const params = decodeSevLaunchStart(t.argBytes(40));
      assert.equal(params.handle, 1, 'the firmware handle is written back');
      assert.deepEqual(t.status(), { handle: 1, policy: SEV_POLICY_ES, state: SEV_GSTATE_LUPDATE });
      // A range over two pages, starting inside the first: one firmware command (contiguous).
      ok(t.p.memory.write(t.ram + 0x800, DATA));
      ok(t.update(t.ram + 0x800, DATA.length));
      // The query: EIO with INVALID_LEN, and len = 48 written back; nothing changes.
      const q = fails(t.measure(0, 0), 'EIO', SEV_RET_INVALID_LEN);
      assert.equal(q.cmd.id, KVM_SEV_LAUNCH_MEASURE);
      assert.equal(decodeSevUaddrLen(t.argBytes(16)).len, 48);
      assert.equal((t.status() as { state: number }).state, SEV_GSTATE_LUPDATE);
      const blobAt = t.ram + 0x3000;
      ok(t.measure(blobAt, 48));
      assert.equal(decodeSevUaddrLen(t.argBytes(16)).len, 48);
      const blob = new Uint8Array(48);
      ok(t.p.memory.read(blobAt, blob));
      const { apiMajor, apiMinor, build } = t.p.psp.platformStatus();
      const want = sevLaunchMeasurement({
        tik: t.p.psp.debugTik(1)!,
        apiMajor,
        apiMinor,
        build,
        policy: SEV_POLICY_ES,
        digest: new Uint8Array(createHash('sha256').update(DATA).digest()),
        mnonce: blob.slice(32),
      });
      assert.deepEqual(blob.subarray(0, 32), want);
      assert.deepEqual(t.status(), { handle: 1, policy: SEV_POLICY_ES, state: SEV_GSTATE_LSECRET });
      const hdr = t.ram + 0x3100;
      const trans = t.ram + 0x3200;
      ok(
        t.op(
          KVM_SEV_LAUNCH_SECRET,
          encodeSevLaunchSecret({
            hdrUaddr: BigInt(hdr),
            hdrLen: 52,
            guestUaddr: BigInt(t.ram),
            guestLen: 16,
            transUaddr: BigInt(trans),
            transLen: 16,
          }),
        ),
      );
      ok(t.op(KVM_SEV_LAUNCH_FINISH));
      assert.deepEqual(t.status(), { handle: 1, policy: SEV_POLICY_ES, state: SEV_GSTATE_RUNNING });
    });
  }

  it('the measurement: the same inputs and seed give the same blob; one byte or the policy changes it', () => {
    const run = (data: Uint8Array, policy = SEV_POLICY_ES) => {
      const t = sevVm({ psp: { seed: 'repro' } });
      ok(t.start({ policy }));
      ok(t.p.memory.write(t.ram, data));
      ok(t.update(t.ram, data.length));
      ok(t.measure(t.ram + 0x3000, 48));
      const blob = new Uint8Array(48);
      ok(t.p.memory.read(t.ram + 0x3000, blob));
      return blob;
    };
    const a = run(DATA);
    assert.deepEqual(run(DATA), a);
    const changed = DATA.slice();
    changed[0x1234] = DATA[0x1234]! ^ 0x80;
    assert.notDeepEqual(run(changed).subarray(0, 32), a.subarray(0, 32));
    assert.notDeepEqual(run(DATA, SEV_POLICY_ES | SEV_POLICY_NODBG).subarray(0, 32), a.subarray(0, 32));
  });
});

describe('KVM_SEV launch: errors in KVM’s order', () => {
  it('ENOTTY before KVM_SEV_INIT2 for every launch command, with kvm_sev_cmd copied back', () => {
    const t = sevVm({ init: false });
    for (const id of [
      KVM_SEV_LAUNCH_START,
      KVM_SEV_LAUNCH_UPDATE_DATA,
      KVM_SEV_LAUNCH_MEASURE,
      KVM_SEV_LAUNCH_SECRET,
      KVM_SEV_LAUNCH_FINISH,
      KVM_SEV_GUEST_STATUS,
      KVM_SEV_DBG_DECRYPT,
      KVM_SEV_DBG_ENCRYPT,
    ]) {
      const r = fails(t.op(id, undefined, { error: 0x77, sevFd: t.sevFd }), 'ENOTTY', 0x77);
      assert.equal(r.cmd.id, id);
    }
  });

  it('EBADF: LAUNCH_START needs sev_fd to be /dev/sev (error untouched); before it, later commands use fd 0', () => {
    const t = sevVm();
    fails(t.start({}, { sevFd: 0, error: 9 }), 'EBADF', 9);
    fails(t.start({}, { sevFd: 999, error: 9 }), 'EBADF', 9);
    ok(t.p.memory.write(t.ram, DATA.subarray(0, 16)));
    fails(t.update(t.ram, 16), 'EBADF', 0);
    fails(t.measure(0, 0), 'EBADF');
    assert.equal(decodeSevUaddrLen(t.argBytes(16)).len, 0, 'the query still writes data.len (0) back');
    fails(t.op(KVM_SEV_LAUNCH_FINISH), 'EBADF');
    fails(t.status(), 'EBADF');
    // sev_pin_memory comes before the fd: an unmapped range is ENOMEM even now.
    fails(t.update(UNMAPPED, 16), 'ENOMEM');
    // After LAUNCH_START the saved fd is used, whatever sev_fd says.
    ok(t.start());
    ok(t.update(t.ram, 16));
    ok(
      t.op(KVM_SEV_LAUNCH_UPDATE_DATA, encodeSevUaddrLen({ uaddr: BigInt(t.ram), len: 16 }), { sevFd: 999 }),
    );
    // Closing /dev/sev makes the saved fd stale (fdget fails).
    assert.ok(t.p.kvm.kvm.fds.close(t.sevFd));
    fails(t.update(t.ram, 16), 'EBADF');
  });

  it('bad order: INVALID_GUEST_STATE with EIO (FINISH before MEASURE, UPDATE or MEASURE after MEASURE)', () => {
    const t = sevVm();
    ok(t.start());
    fails(t.op(KVM_SEV_LAUNCH_FINISH), 'EIO', SEV_RET_INVALID_GUEST_STATE);
    const secret = encodeSevLaunchSecret({
      hdrUaddr: BigInt(t.ram),
      hdrLen: 52,
      guestUaddr: BigInt(t.ram),
      guestLen: 16,
      transUaddr: BigInt(t.ram),
      transLen: 16,
    });
    fails(t.op(KVM_SEV_LAUNCH_SECRET, secret), 'EIO', SEV_RET_INVALID_GUEST_STATE);
    ok(t.measure(t.ram + 0x3000, 48));
    fails(t.update(t.ram, 16), 'EIO', SEV_RET_INVALID_GUEST_STATE);
    ok(t.p.memory.write(t.arg, encodeSevUaddrLen({ uaddr: BigInt(t.ram), len: 48 })));
    fails(t.measure(t.ram + 0x3000, 64), 'EIO', SEV_RET_INVALID_GUEST_STATE);
    assert.equal(decodeSevUaddrLen(t.argBytes(16)).len, 64, 'a failed measurement writes no len back');
    ok(t.op(KVM_SEV_LAUNCH_FINISH));
    fails(t.op(KVM_SEV_LAUNCH_FINISH), 'EIO', SEV_RET_INVALID_GUEST_STATE);
  });

  it('EFAULT: the command struct unreadable; GUEST_STATUS’s answer unwritable (after the firmware ran)', () => {
    const t = sevVm();
    const unmapped = { data: UNMAPPED };
    for (const id of [
      KVM_SEV_LAUNCH_START,
      KVM_SEV_LAUNCH_UPDATE_DATA,
      KVM_SEV_LAUNCH_MEASURE,
      KVM_SEV_DBG_DECRYPT,
    ])
      fails(t.vm.memoryEncryptOp({ id, data: UNMAPPED, error: 0, sevFd: t.sevFd }), 'EFAULT');
    ok(t.start());
    fails(t.op(KVM_SEV_GUEST_STATUS, undefined, { ...unmapped, error: 5 }), 'EFAULT', 0);
  });

  it('LAUNCH_START: blobs (EINVAL for length 0 or over 16 KiB, EFAULT), policy refused by the firmware, a second START', () => {
    const t = sevVm();
    const s = t.start;
    fails(s({ dhUaddr: BigInt(t.ram), dhLen: 0 }), 'EINVAL');
    fails(s({ sessionUaddr: BigInt(t.ram), sessionLen: 0x4001 }), 'EINVAL');
    fails(s({ dhUaddr: UNMAPPED, dhLen: 16 }), 'EFAULT');
    fails(s({ policy: SEV_POLICY_ES | (0xff << 16) }), 'EIO', SEV_RET_POLICY_FAILURE);
    fails(t.status(), 'EBADF', undefined);
    ok(s({ dhUaddr: BigInt(t.ram), dhLen: 64, sessionUaddr: BigInt(t.ram), sessionLen: 64 }));
    // A second START: a new context whose ACTIVATE of the VM's ASID fails; KVM decommissions it.
    fails(s({}), 'EIO', SEV_RET_ASID_OWNED);
    assert.equal(t.p.psp.platformStatus().guestCount, 1);
    assert.deepEqual(t.status(), { handle: 1, policy: SEV_POLICY_ES, state: SEV_GSTATE_LUPDATE });
  });

  it('LAUNCH_UPDATE_DATA: EINVAL (len 0, a wrapping range), ENOMEM (unmapped, read-only), the firmware’s alignment rules', () => {
    const t = sevVm();
    ok(t.start());
    fails(t.update(t.ram, 0), 'EINVAL');
    fails(t.update(0xffff_ffff_ffff_f000n, 0x2000), 'EINVAL');
    fails(t.update(UNMAPPED, 16), 'ENOMEM');
    fails(t.update(t.ram + 0x3ff0, 0x20), 'ENOMEM', 0);
    const ro = ok(t.p.memory.mapAnonymous(0x1000, { prot: PROT_READ }));
    fails(t.update(ro, 16), 'ENOMEM');
    fails(t.update(t.ram + 8, 16), 'EIO', SEV_RET_INVALID_ADDRESS);
    fails(t.update(t.ram, 20), 'EIO', SEV_RET_INVALID_LEN);
    ok(t.update(t.ram, 16));
  });

  it('LAUNCH_MEASURE: len under 48 with a buffer is INVALID_LEN (len kept), over 16 KiB EINVAL; a big buffer gets zeros past 48', () => {
    const t = sevVm();
    ok(t.start());
    fails(t.measure(t.ram, 47), 'EIO', SEV_RET_INVALID_LEN);
    assert.equal(decodeSevUaddrLen(t.argBytes(16)).len, 47);
    fails(t.measure(0, 64), 'EIO', SEV_RET_INVALID_LEN);
    fails(t.measure(t.ram, 0x4001), 'EINVAL');
    ok(t.p.memory.write(t.ram, new Uint8Array(64).fill(0xee)));
    ok(t.measure(t.ram, 64));
    assert.equal(decodeSevUaddrLen(t.argBytes(16)).len, 48);
    const out = new Uint8Array(64);
    ok(t.p.memory.read(t.ram, out));
    assert.deepEqual(out.subarray(48), new Uint8Array(16), 'copy_to_user of the whole (zeroed) buffer');
  });

  it('LAUNCH_UPDATE_VMSA: ENOTTY before init; with no vCPU it does nothing, even before LAUNCH_START (launch-vmsa.test.ts has the rest)', () => {
    fails(sevVm({ init: false }).op(KVM_SEV_LAUNCH_UPDATE_VMSA), 'ENOTTY');
    ok(sevVm().op(KVM_SEV_LAUNCH_UPDATE_VMSA));
  });

  it('closing the VM decommissions its guest (sev_vm_destroy)', () => {
    const t = sevVm();
    ok(t.start());
    assert.equal(t.p.psp.platformStatus().guestCount, 1);
    t.vm.close();
    assert.equal(t.p.psp.platformStatus().guestCount, 0);
  });
});

describe('KVM_SEV_DBG_DECRYPT / DBG_ENCRYPT (sev_dbg_crypt)', () => {
  it('under NODBG the firmware refuses: EIO with POLICY_FAILURE', () => {
    const t = sevVm();
    ok(t.start({ policy: SEV_POLICY_ES | SEV_POLICY_NODBG }));
    fails(t.dbg(true, t.ram, t.ram + 0x1000, 16), 'EIO', SEV_RET_POLICY_FAILURE);
    fails(t.dbg(false, t.ram + 0x1000, t.ram, 16), 'EIO', SEV_RET_POLICY_FAILURE);
  });

  it('KVM’s own checks: len 0, a wrapping source, dst 0 (EINVAL); unmapped pages (ENOMEM)', () => {
    const t = sevVm();
    ok(t.start());
    fails(t.dbg(true, t.ram, t.ram + 0x1000, 0), 'EINVAL');
    fails(
      t.op(KVM_SEV_DBG_DECRYPT, encodeSevDbg({ srcUaddr: 0xffff_ffff_ffff_fff0n, dstUaddr: 1n, len: 0x20 })),
      'EINVAL',
    );
    fails(t.dbg(true, t.ram, 0, 16), 'EINVAL');
    fails(t.dbg(true, Number(UNMAPPED), t.ram, 16), 'ENOMEM');
    fails(t.dbg(true, t.ram, Number(UNMAPPED), 16), 'ENOMEM');
  });

  it('decrypt copies the guest’s plaintext, aligned or bounced, across source pages', () => {
    const t = sevVm();
    ok(t.start());
    // The guest's memory holds ciphertext (the platform's engine is XTS): launch it encrypted.
    ok(t.p.memory.write(t.ram, DATA));
    ok(t.update(t.ram, DATA.length));
    const dst = ok(t.p.memory.mapAnonymous(0x2000));
    for (const [src, d, len] of [
      [0, 0, 0x1000],
      [0x7f3, 0x105, 0x9a1],
      [0xff8, 0x10, 0x30],
    ] as const) {
      ok(t.p.memory.write(dst, new Uint8Array(0x2000)));
      ok(t.dbg(true, t.ram + src, dst + d, len));
      const out = new Uint8Array(len);
      ok(t.p.memory.read(dst + d, out));
      assert.deepEqual(
        out,
        DATA.subarray(src, src + len),
        `src +${src.toString(16)} dst +${d.toString(16)} len ${len}`,
      );
    }
  });

  it('with the XTS engine: LAUNCH_UPDATE_DATA leaves ciphertext in the VMM’s memory; DBG_DECRYPT reads the plaintext', () => {
    const t = sevVm({ psp: { engine: new XtsEngine() } });
    ok(t.start());
    ok(t.p.memory.write(t.ram, DATA));
    ok(t.update(t.ram, DATA.length));
    const host = new Uint8Array(DATA.length);
    ok(t.p.memory.read(t.ram, host));
    assert.notDeepEqual(host, DATA, 'the host sees ciphertext');
    const dst = ok(t.p.memory.mapAnonymous(0x2000));
    ok(t.dbg(true, t.ram + 0x7f0, dst, 0x40));
    const out = new Uint8Array(0x40);
    ok(t.p.memory.read(dst, out));
    assert.deepEqual(out, DATA.subarray(0x7f0, 0x830));
  });

  it('encrypt writes the guest’s memory; an unaligned destination keeps the kernel’s round_up(size, 16)', () => {
    const t = sevVm();
    ok(t.start());
    const src = ok(t.p.memory.mapAnonymous(0x1000));
    ok(t.p.memory.write(src, new Uint8Array(64).fill(0xab)));
    ok(t.dbg(false, src, t.ram + 0x100, 64));
    // What the guest reads there (the memory controller under the guest's ASID): the plaintext;
    // what the host reads: ciphertext.
    const asid = t.p.psp.guestStatus(1).asid;
    const plain = (at: number, n: number) => {
      const mem = new Uint8Array(n);
      ok(t.p.memory.read(at, mem));
      return { mem, guest: t.p.memoryController.debugPlaintext(asid, at, mem)! };
    };
    const out = plain(t.ram + 0x100, 64);
    assert.deepEqual(out.guest, new Uint8Array(64).fill(0xab));
    assert.notDeepEqual(out.mem, out.guest);
    // dst ≡ 8 (mod 16), size 16: the firmware re-encrypts 16 bytes from dst - 8, so only 8 land
    // (the 8 before keep their plaintext: guest zeros, DBG_ENCRYPTed like the rest).
    const zeros = new Uint8Array(32);
    ok(t.p.memory.write(src + 0x800, zeros));
    ok(t.dbg(false, src + 0x800, t.ram + 0x200, 32));
    ok(t.dbg(false, src + 3, t.ram + 0x208, 16));
    const want = new Uint8Array(32);
    want.fill(0xab, 8, 16);
    assert.deepEqual(plain(t.ram + 0x200, 32).guest, want);
  });
});
