import { describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../src/config/schema.ts';
import { createLogger } from '../../src/log.ts';
import { findPython, pythonRelayOverrides, PY_APPLICATION, startPythonApp } from '../../src/demo/python-app.ts';

// The demo's Python app when it cannot run: no python3 (the demo then runs without it, one line), or a
// Python that exits at start-up (a clear error, and the relay it started is closed again). The app
// itself, with the relay and the broker, is exercised by test/integration/demo.test.ts.

const log = createLogger({ level: 'silent' });

describe('demo: the example Python app', () => {
  it('finds no Python where there is none', () => {
    expect(findPython({ PYTHON: '/nonexistent/python3' })).toBeUndefined();
  });

  it('configures the relay for the Python app alone, on loopback and a free port', () => {
    const config = ConfigSchema.parse({ relay: pythonRelayOverrides() });
    expect(config.relay.host).toBe('127.0.0.1');
    expect(config.relay.port).toBe(0);
    expect(Object.keys(config.relay.applications)).toEqual([PY_APPLICATION]);
  });

  // loading the relay loads the Node agent (libddwaf): seconds on a busy machine
  it('says why when the Python app exits at start-up, and closes the relay it started', { timeout: 30_000 }, async () => {
    const config = ConfigSchema.parse({ relay: pythonRelayOverrides(), log: { level: 'silent' } });
    // `false` runs and exits 1 at once: a Python that cannot start the app (the error comes after the
    // relay's close resolved: a hung relay would time the test out)
    await expect(startPythonApp(config, { python: 'false', log, env: {} })).rejects.toThrow(/the Python app exited \(1\) at start-up/);
  });
});
