import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import * as psp from './psp-sev.js';

/** enum sev_ret_code's members after SEV_RET_SUCCESS, in the header's order (it counts up from 0). */
const HEADER_ORDER = [
  'SEV_RET_SUCCESS',
  'SEV_RET_INVALID_PLATFORM_STATE',
  'SEV_RET_INVALID_GUEST_STATE',
  'SEV_RET_INAVLID_CONFIG',
  'SEV_RET_INVALID_LEN',
  'SEV_RET_ALREADY_OWNED',
  'SEV_RET_INVALID_CERTIFICATE',
  'SEV_RET_POLICY_FAILURE',
  'SEV_RET_INACTIVE',
  'SEV_RET_INVALID_ADDRESS',
  'SEV_RET_BAD_SIGNATURE',
  'SEV_RET_BAD_MEASUREMENT',
  'SEV_RET_ASID_OWNED',
  'SEV_RET_INVALID_ASID',
  'SEV_RET_WBINVD_REQUIRED',
  'SEV_RET_DFFLUSH_REQUIRED',
  'SEV_RET_INVALID_GUEST',
  'SEV_RET_INVALID_COMMAND',
  'SEV_RET_ACTIVE',
  'SEV_RET_HWSEV_RET_PLATFORM',
  'SEV_RET_HWSEV_RET_UNSAFE',
  'SEV_RET_UNSUPPORTED',
  'SEV_RET_INVALID_PARAM',
  'SEV_RET_RESOURCE_LIMIT',
  'SEV_RET_SECURE_DATA_INVALID',
];

describe('enum sev_ret_code', () => {
  const values = psp as unknown as Record<string, number>;

  it('numbers the codes in the header’s order, and names them', () => {
    HEADER_ORDER.forEach((name, i) => {
      assert.equal(values[name], i, name);
      assert.equal(psp.sevRetName(i), name);
    });
    assert.equal(psp.sevRetName(-1), 'SEV_RET_NO_FW_CALL');
    assert.equal(psp.sevRetName(0x99), 'SEV_RET_#153');
  });

  const header = '/usr/include/linux/psp-sev.h';
  it('agrees with the system’s <linux/psp-sev.h>', { skip: !existsSync(header) && `no ${header}` }, () => {
    // The header's enum, with C's counting (each member one more than the last unless given).
    const text = spawnSync('cc', ['-E', '-P', '-x', 'c', header], { encoding: 'utf8' }).stdout ?? '';
    // `typedef enum { ... } sev_ret_code;`
    const body = /enum\s*\{([^}]*)\}\s*sev_ret_code/.exec(text)?.[1];
    assert.ok(body, 'enum sev_ret_code in the preprocessed header');
    let next = 0;
    let compared = 0;
    for (const m of body
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean)) {
      const [name, given] = m.split('=').map((x) => x.trim());
      const value = given === undefined ? next : Number(given);
      next = value + 1;
      if (name && name in values) {
        assert.equal(values[name], value, name);
        compared++;
      }
    }
    assert.ok(compared >= HEADER_ORDER.length, `compared ${compared} codes`);
  });
});

describe('guest policy bits', () => {
  it('are the SEV API’s positions', () => {
    assert.deepEqual(
      [psp.SEV_POLICY_NODBG, psp.SEV_POLICY_NOKS, psp.SEV_POLICY_ES, psp.SEV_POLICY_NOSEND],
      [1, 2, 4, 8],
    );
    assert.deepEqual([psp.SEV_POLICY_DOMAIN, psp.SEV_POLICY_SEV], [0x10, 0x20]);
  });
});
