/**
 * x86 exception vectors (arch/x86/include/asm/trapnr.h X86_TRAP_*), the ones src/uapi/svm.ts
 * already names re-exported from there, and the classes the double-fault rules use (Intel SDM
 * Vol. 3A 6.15, Table 6-5; AMD APM Vol. 2 8.2.9).
 */
import {
  AC_VECTOR,
  BP_VECTOR,
  DB_VECTOR,
  GP_VECTOR,
  MC_VECTOR,
  PF_VECTOR,
  UD_VECTOR,
} from '../../uapi/svm.js';
import { X86_TRAP_VC } from '../sev-es-exits.js';

export { AC_VECTOR, BP_VECTOR, DB_VECTOR, GP_VECTOR, MC_VECTOR, PF_VECTOR, UD_VECTOR };
export const DE_VECTOR = 0;
export const NMI_VECTOR = 2;
export const OF_VECTOR = 4;
export const BR_VECTOR = 5;
export const NM_VECTOR = 7;
export const DF_VECTOR = 8;
export const TS_VECTOR = 10;
export const NP_VECTOR = 11;
export const SS_VECTOR = 12;
export const MF_VECTOR = 16;
export const XM_VECTOR = 19;
/** #VC, SEV-ES's VMM communication exception. */
export const VC_VECTOR = X86_TRAP_VC;

/** Contributory exceptions: two of them in a row, or one during a #PF's delivery, are a #DF. */
export function isContributory(vector: number): boolean {
  return vector === DE_VECTOR || (vector >= TS_VECTOR && vector <= GP_VECTOR);
}
