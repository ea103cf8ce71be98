/**
 * The guest-side GHCB client for scripted SEV-ES guests: GHCB MSR protocol, GHCB page requests,
 * answer classification and a #VC handler. Imports only src/uapi and src/cpu.
 */
export {
  GhcbClient,
  type GhcbClientOptions,
  type GhcbCpuidReply,
  type GhcbDataReply,
  type GhcbRdtscpReply,
  type GhcbValueReply,
  SCRATCH_IN_GHCB,
  type Scratch,
} from './ghcb-client.js';
export { type GhcbResult, verifyExceptionInfo } from './result.js';
export { ghcbVcHandler, type VcHandlerOptions, VmmCommunicationError } from './vc-handler.js';
