const Sequencer = require('@jest/test-sequencer').default;

/**
 * The suites that measure a send rate against the clock run first, while the jest process and the
 * shared Azurite are fresh. Late in a full run on 2 cores (70 suites in one process, `--runInBand`)
 * the same suite ran a third slower and met more bunched 429s: `adaptiveRate` failed there twice
 * and passed alone every time. Running them first measures the pipeline, not the run's leftovers.
 * The rest keep jest's own order (failed first, then longest first).
 */
const FIRST = ['adaptiveRate.test.ts', 'pacedDelivery.test.ts', 'welcomePacing.test.ts'];

class TimingFirstSequencer extends Sequencer {
  async sort(tests) {
    const sorted = await super.sort(tests);
    const rank = (test) => {
      const index = FIRST.findIndex((name) => test.path.endsWith(`/${name}`));
      return index === -1 ? FIRST.length : index;
    };
    return [...sorted].sort((a, b) => rank(a) - rank(b));
  }
}

module.exports = TimingFirstSequencer;
