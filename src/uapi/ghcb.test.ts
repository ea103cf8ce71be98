import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  decodeGhcbMsrCpuidReq,
  decodeGhcbMsrPscReq,
  decodeGhcbMsrSevInfo,
  decodeGhcbMsrTermReq,
  GHCB_ERR_INVALID_EVENT,
  GHCB_ERR_INVALID_INPUT,
  GHCB_ERR_INVALID_SCRATCH_AREA,
  GHCB_ERR_INVALID_USAGE,
  GHCB_ERR_MISSING_INPUT,
  GHCB_ERR_NOT_REGISTERED,
  GHCB_FIELDS,
  GHCB_HV_FT_SNP,
  GHCB_HV_FT_SNP_AP_CREATION,
  GHCB_HV_FT_SNP_MULTI_VMPL,
  GHCB_HV_FT_SUPPORTED,
  GHCB_HV_RESP_ISSUE_EXCEPTION,
  GHCB_HV_RESP_MALFORMED_INPUT,
  GHCB_HV_RESP_NO_ACTION,
  GHCB_MSR_AP_RESET_HOLD_REQ,
  GHCB_MSR_AP_RESET_HOLD_RESP,
  GHCB_MSR_CPUID_REQ,
  GHCB_MSR_CPUID_RESP,
  GHCB_MSR_HV_FT_REQ,
  GHCB_MSR_HV_FT_RESP,
  GHCB_MSR_INFO_MASK,
  GHCB_MSR_PREF_GPA_NONE,
  GHCB_MSR_PREF_GPA_REQ,
  GHCB_MSR_PREF_GPA_RESP,
  GHCB_MSR_PSC_REQ,
  GHCB_MSR_PSC_RESP,
  GHCB_MSR_PSC_RESP_ERROR,
  GHCB_MSR_REG_GPA_REQ,
  GHCB_MSR_REG_GPA_RESP,
  GHCB_MSR_SEV_INFO_REQ,
  GHCB_MSR_SEV_INFO_RESP,
  GHCB_MSR_TERM_REQ,
  GHCB_MSR_VMPL_REQ,
  GHCB_MSR_VMPL_RESP,
  GHCB_OFF_CPL,
  GHCB_OFF_PROTOCOL_VERSION,
  GHCB_OFF_R15,
  GHCB_OFF_RAX,
  GHCB_OFF_SHARED_BUFFER,
  GHCB_OFF_SW_EXIT_CODE,
  GHCB_OFF_SW_EXIT_INFO_1,
  GHCB_OFF_SW_EXIT_INFO_2,
  GHCB_OFF_SW_SCRATCH,
  GHCB_OFF_USAGE,
  GHCB_OFF_VALID_BITMAP,
  GHCB_OFF_X87_STATE_GPA,
  GHCB_OFF_XCR0,
  GHCB_SAVE_AREA_SIZE,
  GHCB_SCRATCH_AREA_LIMIT,
  GHCB_SHARED_BUF_SIZE,
  GHCB_SIZE,
  GHCB_VERSION_MIN,
  type GhcbField,
  ghcbBitmapIdx,
  ghcbErrName,
  ghcbMsrApResetHoldResp,
  ghcbMsrCpuidReq,
  ghcbMsrCpuidResp,
  ghcbMsrCpuidRespValue,
  ghcbMsrData,
  ghcbMsrHvFtResp,
  ghcbMsrHvFtRespVal,
  ghcbMsrInfo,
  ghcbMsrInfoName,
  ghcbMsrPrefGpaResp,
  ghcbMsrPscReq,
  ghcbMsrPscResp,
  ghcbMsrPscRespVal,
  ghcbMsrRegGpaReq,
  ghcbMsrRegGpaResp,
  ghcbMsrRegGpaVal,
  ghcbMsrSevInfo,
  ghcbMsrTermReq,
  ghcbSevTermReason,
  sevTermReasonName,
} from './ghcb.js';

function field(name: string): GhcbField {
  const f = GHCB_FIELDS.find((x) => x.name === name);
  assert.ok(f, `no field ${name}`);
  return f;
}

describe('GHCB page layout', () => {
  it('has the offsets of ghcb.md section 1', () => {
    assert.equal(GHCB_SIZE, 4096);
    assert.equal(GHCB_OFF_CPL, 0xcb);
    assert.equal(GHCB_OFF_RAX, 0x1f8);
    assert.equal(GHCB_OFF_R15, 0x378);
    assert.equal(GHCB_OFF_SW_EXIT_CODE, 0x390);
    assert.equal(GHCB_OFF_SW_EXIT_INFO_1, 0x398);
    assert.equal(GHCB_OFF_SW_EXIT_INFO_2, 0x3a0);
    assert.equal(GHCB_OFF_SW_SCRATCH, 0x3a8);
    assert.equal(GHCB_OFF_XCR0, 0x3e8);
    assert.equal(GHCB_OFF_VALID_BITMAP, 0x3f0);
    assert.equal(GHCB_OFF_X87_STATE_GPA, 0x400);
    assert.equal(GHCB_SAVE_AREA_SIZE, 1032);
    assert.equal(GHCB_OFF_SHARED_BUFFER, 0x800);
    assert.equal(GHCB_SHARED_BUF_SIZE, 2032);
    assert.equal(GHCB_OFF_SHARED_BUFFER + GHCB_SHARED_BUF_SIZE, 0xff0);
    assert.equal(GHCB_OFF_PROTOCOL_VERSION, 0xffa);
    assert.equal(GHCB_OFF_USAGE, 0xffc);
  });

  it('has the spec table offsets and valid bits', () => {
    const spec: [string, number, number, number | undefined][] = [
      ['cpl', 0x0cb, 1, 25],
      ['xss', 0x140, 8, 40],
      ['dr7', 0x160, 8, 44],
      ['rip', 0x178, 8, 47],
      ['rsp', 0x1d8, 8, 59],
      ['rax', 0x1f8, 8, 63],
      ['rcx', 0x308, 8, 97],
      ['rdx', 0x310, 8, 98],
      ['rbx', 0x318, 8, 99],
      ['rbp', 0x328, 8, 101],
      ['rsi', 0x330, 8, 102],
      ['rdi', 0x338, 8, 103],
      ['r8', 0x340, 8, 104],
      ['r9', 0x348, 8, 105],
      ['r12', 0x360, 8, 108],
      ['r15', 0x378, 8, 111],
      ['sw_exit_code', 0x390, 8, 114],
      ['sw_exit_info_1', 0x398, 8, 115],
      ['sw_exit_info_2', 0x3a0, 8, 116],
      ['sw_scratch', 0x3a8, 8, 117],
      ['xcr0', 0x3e8, 8, 125],
      ['valid_bitmap', 0x3f0, 16, undefined],
      ['x87_state_gpa', 0x400, 8, undefined],
      ['protocol_version', 0xffa, 2, undefined],
      ['ghcb_usage', 0xffc, 4, undefined],
    ];
    for (const [name, offset, size, validBit] of spec) {
      const f = field(name);
      assert.equal(f.offset, offset, name);
      assert.equal(f.size, size, name);
      assert.equal(f.validBit, validBit, name);
    }
    // Those and the rest of the registers, all 29 fields in page order.
    assert.deepEqual(
      GHCB_FIELDS.map((f) => f.name),
      [
        ...['cpl', 'xss', 'dr7', 'rip', 'rsp', 'rax', 'rcx', 'rdx', 'rbx', 'rbp', 'rsi', 'rdi'],
        ...['r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'],
        ...['sw_exit_code', 'sw_exit_info_1', 'sw_exit_info_2', 'sw_scratch', 'xcr0'],
        ...['valid_bitmap', 'x87_state_gpa', 'protocol_version', 'ghcb_usage'],
      ],
    );
  });

  it('has fields in order, inside the page, without overlap', () => {
    for (let i = 1; i < GHCB_FIELDS.length; i++) {
      const a = GHCB_FIELDS[i - 1]!;
      const b = GHCB_FIELDS[i]!;
      assert.ok(a.offset + a.size <= b.offset, `${a.name} overlaps ${b.name}`);
    }
    const last = GHCB_FIELDS.at(-1)!;
    assert.equal(last.offset + last.size, GHCB_SIZE);
  });

  it('computes the bitmap index as offset >> 3', () => {
    assert.equal(ghcbBitmapIdx(0x1f8), 63);
    assert.equal(ghcbBitmapIdx(0xcb), 25);
    assert.equal(ghcbBitmapIdx(0x3a8), 117);
    // sw_scratch's valid bit (117) lives in bitmap byte 14 (page offset 0x3fe), bit 5
    const idx = ghcbBitmapIdx(GHCB_OFF_SW_SCRATCH);
    assert.deepEqual([GHCB_OFF_VALID_BITMAP + (idx >> 3), idx & 7], [0x3fe, 5]);
  });
});

describe('GHCB responses and errors', () => {
  it('have the sev-common.h values', () => {
    assert.deepEqual(
      [GHCB_HV_RESP_NO_ACTION, GHCB_HV_RESP_ISSUE_EXCEPTION, GHCB_HV_RESP_MALFORMED_INPUT],
      [0, 1, 2],
    );
    assert.deepEqual(
      [
        GHCB_ERR_NOT_REGISTERED,
        GHCB_ERR_INVALID_USAGE,
        GHCB_ERR_INVALID_SCRATCH_AREA,
        GHCB_ERR_MISSING_INPUT,
        GHCB_ERR_INVALID_INPUT,
        GHCB_ERR_INVALID_EVENT,
      ],
      [1, 2, 3, 4, 5, 6],
    );
    assert.equal(GHCB_SCRATCH_AREA_LIMIT, 65536);
    assert.equal(GHCB_VERSION_MIN, 1);
  });

  it('have names', () => {
    assert.equal(ghcbErrName(3), 'GHCB_ERR_INVALID_SCRATCH_AREA');
    assert.equal(ghcbErrName(6n), 'GHCB_ERR_INVALID_EVENT');
    assert.equal(ghcbErrName(1), 'GHCB_ERR_NOT_REGISTERED');
    assert.equal(ghcbErrName(0), 'GHCB_ERR_#0');
    assert.equal(ghcbErrName(7), 'GHCB_ERR_#7');
    assert.equal(ghcbErrName(1n << 40n), `GHCB_ERR_#${1n << 40n}`);
  });

  it('report SNP and AP creation as the supported hypervisor features', () => {
    assert.equal(GHCB_HV_FT_SNP, 1n);
    assert.equal(GHCB_HV_FT_SNP_AP_CREATION, 2n);
    assert.equal(GHCB_HV_FT_SNP_MULTI_VMPL, 32n);
    assert.equal(GHCB_HV_FT_SUPPORTED, 3n);
  });
});

describe('GHCB MSR protocol', () => {
  it('has the sev-common.h codes', () => {
    assert.equal(GHCB_MSR_INFO_MASK, 0xfff);
    const codes: [number, number][] = [
      [GHCB_MSR_SEV_INFO_RESP, 0x001],
      [GHCB_MSR_SEV_INFO_REQ, 0x002],
      [GHCB_MSR_CPUID_REQ, 0x004],
      [GHCB_MSR_CPUID_RESP, 0x005],
      [GHCB_MSR_AP_RESET_HOLD_REQ, 0x006],
      [GHCB_MSR_AP_RESET_HOLD_RESP, 0x007],
      [GHCB_MSR_PREF_GPA_REQ, 0x010],
      [GHCB_MSR_PREF_GPA_RESP, 0x011],
      [GHCB_MSR_REG_GPA_REQ, 0x012],
      [GHCB_MSR_REG_GPA_RESP, 0x013],
      [GHCB_MSR_PSC_REQ, 0x014],
      [GHCB_MSR_PSC_RESP, 0x015],
      [GHCB_MSR_VMPL_REQ, 0x016],
      [GHCB_MSR_VMPL_RESP, 0x017],
      [GHCB_MSR_HV_FT_REQ, 0x080],
      [GHCB_MSR_HV_FT_RESP, 0x081],
      [GHCB_MSR_TERM_REQ, 0x100],
    ];
    for (const [value, spec] of codes) assert.equal(value, spec, ghcbMsrInfoName(value));
    assert.equal(ghcbMsrInfoName(0x100), 'GHCB_MSR_TERM_REQ');
    assert.equal(ghcbMsrInfoName(0x003), 'GHCB_MSR_#0x3');
    assert.equal(GHCB_MSR_PREF_GPA_NONE, (1n << 52n) - 1n);
  });

  it('splits info and data', () => {
    assert.equal(ghcbMsrInfo(0xffff_ffff_ffff_f004n), 4);
    assert.equal(ghcbMsrData(0xffff_ffff_ffff_f004n), 0xf_ffff_ffff_ffffn);
    assert.equal(ghcbMsrInfo(0x1000n), 0);
    assert.equal(ghcbMsrData(0x12345_6789_a000n), 0x12345_6789an);
  });

  it('encodes SEV_INFO as GHCB_MSR_SEV_INFO', () => {
    assert.equal(ghcbMsrSevInfo(2, 1, 51), 0x0002_0001_3300_0001n);
    assert.equal(ghcbMsrSevInfo(1, 1, 47), 0x0001_0001_2f00_0001n);
    assert.deepEqual(decodeGhcbMsrSevInfo(0x0002_0001_3300_0001n), { max: 2, min: 1, cbit: 51 });
  });

  it('encodes CPUID requests as GHCB_CPUID_REQ', () => {
    assert.equal(ghcbMsrCpuidReq(0x8000001f, 1), 0x8000_001f_4000_0004n);
    assert.equal(ghcbMsrCpuidReq(0, 0), 0x4n);
    assert.equal(ghcbMsrCpuidReq(0xd, 3), 0x0000_000d_c000_0004n);
    assert.deepEqual(decodeGhcbMsrCpuidReq(0x8000_001f_4000_0004n), { fn: 0x8000001f, reg: 1 });
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.constantFrom(0, 1, 2, 3) as fc.Arbitrary<0 | 1 | 2 | 3>,
        (fn, reg) => {
          const v = ghcbMsrCpuidReq(fn, reg);
          assert.equal(ghcbMsrInfo(v), GHCB_MSR_CPUID_REQ);
          assert.deepEqual({ ...decodeGhcbMsrCpuidReq(v) }, { fn, reg });
        },
      ),
    );
  });

  it('builds CPUID responses keeping bits 31:12 of the request', () => {
    const resp = ghcbMsrCpuidResp(0x8000_001f_4000_0004n, 0x0000_b02f);
    assert.equal(resp, 0x0000_b02f_4000_0005n);
    assert.equal(ghcbMsrCpuidRespValue(resp), 0xb02f);
    assert.equal(ghcbMsrCpuidResp(0x1_1234_5004n, 0xffff_ffff), 0xffff_ffff_1234_5005n);
  });

  it('encodes TERM_REQ as GHCB_MSR_TERM_REQ | GHCB_SEV_TERM_REASON', () => {
    assert.equal(ghcbSevTermReason(1, 4), 0x4_1000n);
    assert.equal(ghcbMsrTermReq(1, 4), 0x4_1100n);
    assert.equal(ghcbMsrTermReq(0, 0), 0x100n);
    assert.equal(ghcbMsrTermReq(0xf, 0xff), 0xff_f100n);
    assert.deepEqual(decodeGhcbMsrTermReq(0x4_1100n), { reasonSet: 1, reasonCode: 4 });
    for (let set = 0; set < 16; set++)
      for (const code of [0, 1, 11, 0x80, 0xff]) {
        assert.deepEqual(decodeGhcbMsrTermReq(ghcbMsrTermReq(set, code)), {
          reasonSet: set,
          reasonCode: code,
        });
      }
  });

  it('encodes PSC requests and responses', () => {
    assert.equal(ghcbMsrPscReq(0x12345n, 2), 0x0020_0000_1234_5014n);
    assert.deepEqual(decodeGhcbMsrPscReq(0x0020_0000_1234_5014n), { gfn: 0x12345n, op: 2 });
    assert.equal(ghcbMsrPscReq((1n << 40n) - 1n, 1), 0x001f_ffff_ffff_f014n);
    assert.equal(GHCB_MSR_PSC_RESP_ERROR, 0x8000_0000_0000_0015n);
    assert.equal(ghcbMsrPscResp(0), 0x15n);
    assert.equal(ghcbMsrPscRespVal(GHCB_MSR_PSC_RESP_ERROR), 0x8000_0000);
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: (1n << 40n) - 1n }),
        fc.integer({ min: 0, max: 15 }),
        (gfn, op) => {
          assert.deepEqual({ ...decodeGhcbMsrPscReq(ghcbMsrPscReq(gfn, op)) }, { gfn, op });
        },
      ),
    );
  });

  it('encodes GHCB GPA registration, preferred GPA, HV features and AP reset hold', () => {
    assert.equal(ghcbMsrRegGpaReq(0xabcden), 0xabcd_e012n);
    assert.equal(ghcbMsrRegGpaResp(0xabcden), 0xabcd_e013n);
    assert.equal(ghcbMsrRegGpaVal(0xabcd_e013n), 0xabcden);
    assert.equal(ghcbMsrPrefGpaResp(GHCB_MSR_PREF_GPA_NONE), 0xffff_ffff_ffff_f011n);
    assert.equal(ghcbMsrHvFtResp(GHCB_HV_FT_SUPPORTED), 0x3081n);
    assert.equal(ghcbMsrHvFtRespVal(0x3081n), 3n);
    assert.equal(ghcbMsrApResetHoldResp(0n), 0x7n);
    assert.equal(ghcbMsrApResetHoldResp(1n), 0x1007n);
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 52n) - 1n }), (gfn) => {
        assert.equal(ghcbMsrRegGpaVal(ghcbMsrRegGpaReq(gfn)), gfn);
        assert.equal(ghcbMsrData(ghcbMsrRegGpaResp(gfn)), gfn);
      }),
    );
  });
});

describe('termination reasons', () => {
  it('have names per reason set', () => {
    assert.equal(sevTermReasonName(0, 0), 'GHCB_SEV_ES_GEN_REQ');
    assert.equal(sevTermReasonName(0, 1), 'GHCB_SEV_ES_PROT_UNSUPPORTED');
    assert.equal(sevTermReasonName(0, 2), 'GHCB_SNP_UNSUPPORTED');
    assert.equal(sevTermReasonName(1, 0), 'GHCB_TERM_REGISTER');
    assert.equal(sevTermReasonName(1, 1), 'GHCB_TERM_PSC');
    assert.equal(sevTermReasonName(1, 4), 'GHCB_TERM_CPUID');
    assert.equal(sevTermReasonName(1, 10), 'GHCB_TERM_SECURE_TSC');
    assert.equal(sevTermReasonName(1, 11), 'GHCB_TERM_SVSM_CA_REMAP_FAIL');
    assert.equal(sevTermReasonName(1, 12), 'SEV_TERM_1_#12');
    assert.equal(sevTermReasonName(0, 3), 'SEV_TERM_0_#3');
    assert.equal(sevTermReasonName(2, 0), 'SEV_TERM_2_#0');
  });
});
