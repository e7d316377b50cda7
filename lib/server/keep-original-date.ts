/**
 * Imported by the app's server (scripts/server.ts) before Next: records the global Date as the
 * process started, before Next's server replaces it with its wrapper, for lib/clock.ts to use.
 * Only for a process whose Date nobody else replaces on purpose: tests that fake the clock
 * (vi.useFakeTimers) never import it, and the clock then follows the global Date.
 */
import { keepOriginalDate } from '../clock';

keepOriginalDate();
