import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MSR_AMD64_SEV_ES_GHCB,
  MSR_EFER,
  MSR_IA32_APICBASE,
  MSR_IA32_TSC,
  MSR_IA32_XSS,
} from './msr-index.js';
import {
  decodeIoioInfo,
  decodeVmgexitTermReason,
  encodeIoioInfo,
  GP_VECTOR,
  type IoioInfo,
  SVM_EVTINJ_TYPE_EXEPT,
  SVM_EVTINJ_VALID,
  SVM_EXIT_CPUID,
  SVM_EXIT_HLT,
  SVM_EXIT_INVD,
  SVM_EXIT_IOIO,
  SVM_EXIT_IRET,
  SVM_EXIT_MONITOR,
  SVM_EXIT_MSR,
  SVM_EXIT_MWAIT,
  SVM_EXIT_NPF,
  SVM_EXIT_RDPMC,
  SVM_EXIT_RDTSC,
  SVM_EXIT_RDTSCP,
  SVM_EXIT_READ_DR7,
  SVM_EXIT_SHUTDOWN,
  SVM_EXIT_VMGEXIT,
  SVM_EXIT_VMMCALL,
  SVM_EXIT_WBINVD,
  SVM_EXIT_WRITE_DR7,
  SVM_EXIT_XSETBV,
  SVM_IOIO_ASIZE_MASK,
  SVM_IOIO_ASIZE_SHIFT,
  SVM_IOIO_REP_MASK,
  SVM_IOIO_SEG_SHIFT,
  SVM_IOIO_SIZE_MASK,
  SVM_IOIO_SIZE_SHIFT,
  SVM_IOIO_STR_MASK,
  SVM_IOIO_TYPE_MASK,
  SVM_VMGEXIT_AP_CREATE,
  SVM_VMGEXIT_AP_CREATE_ON_INIT,
  SVM_VMGEXIT_AP_CREATION,
  SVM_VMGEXIT_AP_DESTROY,
  SVM_VMGEXIT_AP_HLT_LOOP,
  SVM_VMGEXIT_AP_JUMP_TABLE,
  SVM_VMGEXIT_EXT_GUEST_REQUEST,
  SVM_VMGEXIT_GET_AP_JUMP_TABLE,
  SVM_VMGEXIT_GUEST_REQUEST,
  SVM_VMGEXIT_HV_FEATURES,
  SVM_VMGEXIT_MMIO_READ,
  SVM_VMGEXIT_MMIO_WRITE,
  SVM_VMGEXIT_NMI_COMPLETE,
  SVM_VMGEXIT_PSC,
  SVM_VMGEXIT_SET_AP_JUMP_TABLE,
  SVM_VMGEXIT_SNP_RUN_VMPL,
  SVM_VMGEXIT_TERM_REASON,
  SVM_VMGEXIT_TERM_REQUEST,
  SVM_VMGEXIT_UNSUPPORTED_EVENT,
  svmExitCodeName,
  UD_VECTOR,
} from './svm.js';

describe('SVM exit codes', () => {
  it('have the uapi svm.h values', () => {
    const expected: [number, number][] = [
      [SVM_EXIT_READ_DR7, 0x27],
      [SVM_EXIT_WRITE_DR7, 0x37],
      [SVM_EXIT_RDTSC, 0x6e],
      [SVM_EXIT_RDPMC, 0x6f],
      [SVM_EXIT_CPUID, 0x72],
      [SVM_EXIT_IRET, 0x74],
      [SVM_EXIT_INVD, 0x76],
      [SVM_EXIT_HLT, 0x78],
      [SVM_EXIT_IOIO, 0x7b],
      [SVM_EXIT_MSR, 0x7c],
      [SVM_EXIT_SHUTDOWN, 0x7f],
      [SVM_EXIT_VMMCALL, 0x81],
      [SVM_EXIT_RDTSCP, 0x87],
      [SVM_EXIT_WBINVD, 0x89],
      [SVM_EXIT_MONITOR, 0x8a],
      [SVM_EXIT_MWAIT, 0x8b],
      [SVM_EXIT_XSETBV, 0x8d],
      [SVM_EXIT_NPF, 0x400],
      [SVM_EXIT_VMGEXIT, 0x403],
      [SVM_VMGEXIT_MMIO_READ, 0x80000001],
      [SVM_VMGEXIT_MMIO_WRITE, 0x80000002],
      [SVM_VMGEXIT_NMI_COMPLETE, 0x80000003],
      [SVM_VMGEXIT_AP_HLT_LOOP, 0x80000004],
      [SVM_VMGEXIT_AP_JUMP_TABLE, 0x80000005],
      [SVM_VMGEXIT_PSC, 0x80000010],
      [SVM_VMGEXIT_GUEST_REQUEST, 0x80000011],
      [SVM_VMGEXIT_EXT_GUEST_REQUEST, 0x80000012],
      [SVM_VMGEXIT_AP_CREATION, 0x80000013],
      [SVM_VMGEXIT_SNP_RUN_VMPL, 0x80000018],
      [SVM_VMGEXIT_HV_FEATURES, 0x8000fffd],
      [SVM_VMGEXIT_TERM_REQUEST, 0x8000fffe],
      [SVM_VMGEXIT_UNSUPPORTED_EVENT, 0x8000ffff],
    ];
    for (const [value, spec] of expected) assert.equal(value, spec, svmExitCodeName(value));
    assert.deepEqual([SVM_VMGEXIT_SET_AP_JUMP_TABLE, SVM_VMGEXIT_GET_AP_JUMP_TABLE], [0, 1]);
    assert.deepEqual(
      [SVM_VMGEXIT_AP_CREATE_ON_INIT, SVM_VMGEXIT_AP_CREATE, SVM_VMGEXIT_AP_DESTROY],
      [0, 1, 2],
    );
  });

  it('have names, for numbers and bigints', () => {
    assert.equal(svmExitCodeName(0x7b), 'SVM_EXIT_IOIO');
    assert.equal(svmExitCodeName(0x7bn), 'SVM_EXIT_IOIO');
    assert.equal(svmExitCodeName(0x80000001n), 'SVM_VMGEXIT_MMIO_READ');
    assert.equal(svmExitCodeName(0x8000fffe), 'SVM_VMGEXIT_TERM_REQUEST');
    assert.equal(svmExitCodeName(0x403), 'SVM_EXIT_VMGEXIT');
    assert.equal(svmExitCodeName(0x4d), 'SVM_EXIT_EXCP_BASE+13');
    assert.equal(svmExitCodeName(-1), 'SVM_EXIT_ERR');
    assert.equal(svmExitCodeName(0xffff_ffff_ffff_ffffn), 'SVM_EXIT_ERR');
    assert.equal(svmExitCodeName(0x80000006), 'SVM_EXIT_#0x80000006');
    assert.equal(svmExitCodeName(0x1_0000_007bn), 'SVM_EXIT_#0x10000007b');
  });
});

describe('SVM_VMGEXIT_TERM_REASON', () => {
  it('packs set in [3:0] and code in [11:4]', () => {
    assert.equal(SVM_VMGEXIT_TERM_REASON(1, 4), 0x41n);
    assert.equal(SVM_VMGEXIT_TERM_REASON(0xf, 0xff), 0xfffn);
    assert.equal(SVM_VMGEXIT_TERM_REASON(0x1f, 0x1ff), 0xfffn);
    assert.deepEqual(decodeVmgexitTermReason(0xab3n), { reasonSet: 3, reasonCode: 0xab });
  });
});

describe('IOIO exit_info_1', () => {
  it('has the svm.h field masks', () => {
    assert.equal(SVM_IOIO_TYPE_MASK, 0x1);
    assert.equal(SVM_IOIO_STR_MASK, 0x4);
    assert.equal(SVM_IOIO_REP_MASK, 0x8);
    assert.equal(SVM_IOIO_SIZE_SHIFT, 4);
    assert.equal(SVM_IOIO_SIZE_MASK, 0x70);
    assert.equal(SVM_IOIO_ASIZE_SHIFT, 7);
    assert.equal(SVM_IOIO_ASIZE_MASK, 0x380);
    assert.equal(SVM_IOIO_SEG_SHIFT, 10);
  });

  it('matches hand-encoded values', () => {
    // out dx, al to 0x3f8
    assert.equal(encodeIoioInfo({ port: 0x3f8, size: 1, in: false }), 0x03f80010);
    // in eax, dx from 0xcf8 with 64-bit addressing
    assert.equal(encodeIoioInfo({ port: 0xcf8, size: 4, in: true, addrSize: 64 }), 0x0cf80241);
    // rep insw from 0xffff, 32-bit addressing, ES
    assert.equal(
      encodeIoioInfo({ port: 0xffff, size: 2, in: true, string: true, rep: true, addrSize: 32 }),
      0xffff012d,
    );
    // rep outsb, 16-bit addressing, DS (seg 3)
    assert.equal(
      encodeIoioInfo({ port: 0x80, size: 1, in: false, string: true, rep: true, addrSize: 16, seg: 3 }),
      0x00800c9c,
    );
  });

  it('round-trips every size/direction/string/rep combination', () => {
    for (const size of [1, 2, 4] as const)
      for (const dirIn of [false, true])
        for (const string of [false, true])
          for (const rep of [false, true])
            for (const addrSize of [undefined, 16, 32, 64] as const)
              for (const port of [0, 0x60, 0x3f8, 0x8000, 0xffff])
                for (const seg of [0, 3, 7]) {
                  const io: IoioInfo = { port, size, in: dirIn, string, rep, seg };
                  if (addrSize !== undefined) io.addrSize = addrSize;
                  const info = encodeIoioInfo(io);
                  assert.ok(info >= 0 && info <= 0xffffffff);
                  const d = decodeIoioInfo(info);
                  assert.equal(d.port, port);
                  assert.equal(d.in, dirIn);
                  assert.equal(d.string, string);
                  assert.equal(d.rep, rep);
                  assert.equal(d.size, size);
                  assert.equal(d.size, (info & 0x70) >> 4);
                  assert.equal(d.sizeField, size);
                  assert.equal(d.asizeField, addrSize === undefined ? 0 : { 16: 1, 32: 2, 64: 4 }[addrSize]);
                  assert.equal(d.seg, seg);
                }
  });

  it('decodes raw fields without judging them', () => {
    const d = decodeIoioInfo(0x12340073);
    assert.equal(d.port, 0x1234);
    assert.equal(d.sizeField, 7);
    assert.equal(d.size, 7);
    assert.equal(d.in, true);
    assert.equal(d.string, false);
    assert.equal(decodeIoioInfo(0x00600001).size, 0);
  });

  it('rejects impossible inputs', () => {
    assert.throws(() => encodeIoioInfo({ port: 0x10000, size: 1, in: true }), RangeError);
    assert.throws(() => encodeIoioInfo({ port: 1, size: 3 as 1, in: true }), RangeError);
    assert.throws(() => encodeIoioInfo({ port: 1, size: 1, in: true, seg: 8 }), RangeError);
    assert.throws(() => encodeIoioInfo({ port: 1, size: 1, in: true, addrSize: 8 as 16 }), RangeError);
  });
});

describe('event injection, vectors and MSRs', () => {
  it('build the #GP event KVM reports for a faulting MSR access', () => {
    assert.equal(SVM_EVTINJ_VALID, 0x80000000);
    assert.equal(SVM_EVTINJ_TYPE_EXEPT, 0x300);
    assert.equal((SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | GP_VECTOR) >>> 0, 0x8000030d);
    assert.equal(UD_VECTOR, 6);
  });

  it('have the msr-index.h values', () => {
    assert.equal(MSR_AMD64_SEV_ES_GHCB, 0xc0010130);
    assert.equal(MSR_IA32_XSS, 0xda0);
    assert.equal(MSR_IA32_TSC, 0x10);
    assert.equal(MSR_IA32_APICBASE, 0x1b);
    assert.equal(MSR_EFER, 0xc0000080);
  });
});
