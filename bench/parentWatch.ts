/**
 * Loaded into each bench worker before `local/worker.ts` (`node --import tsx --import ./bench/parentWatch.ts`):
 * when the bench goes away without stopping its workers (killed, crashed), the IPC channel closes
 * and the worker stops itself the way Ctrl-C stops it, so no worker outlives its bench.
 */
if (process.channel !== undefined && process.channel !== null) {
  process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  process.channel.unref();
}
export {};
