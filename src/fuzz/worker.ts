/** A campaign worker thread: runs its slice of the cases and posts progress and the result. */
import { parentPort, workerData } from 'node:worker_threads';
import { runSlice, type SliceOptions } from './campaign.js';

const port = parentPort;
if (port) {
  const r = runSlice(workerData as SliceOptions, (p) => port.postMessage({ type: 'tick', p }));
  port.postMessage({ type: 'done', r });
}
