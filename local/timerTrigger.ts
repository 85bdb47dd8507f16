import type { Timer } from '@azure/functions';
import type { TimerFunctionDefinition } from '../functions/definitions';
import type { Logger } from '../shared/logger';
import { invocationContext } from './functionHost';

export interface RunningTimers {
  stop(): Promise<void>;
}

/** The local stand-in for timer triggers: each definition's handler every `everyMs`, never overlapping itself. */
export function startTimers(definitions: readonly TimerFunctionDefinition[], log: Logger): RunningTimers {
  const running = new Set<Promise<void>>();
  const timers = definitions.map((definition) => {
    let busy = false;
    let last = new Date();
    return setInterval(() => {
      if (busy) return;
      busy = true;
      const now = new Date();
      const timer: Timer = {
        isPastDue: false,
        schedule: { adjustForDST: false },
        scheduleStatus: { last: last.toISOString(), next: new Date(now.getTime() + definition.everyMs).toISOString(), lastUpdated: now.toISOString() },
      };
      last = now;
      const run = definition
        .handler(timer, invocationContext(definition.name, log))
        .catch((error: unknown) => log.error('failed', { functionName: definition.name, error }))
        .finally(() => {
          busy = false;
          running.delete(run);
        });
      running.add(run);
    }, definition.everyMs);
  });
  return {
    async stop() {
      for (const timer of timers) clearInterval(timer);
      await Promise.all(running);
    },
  };
}
