// An application that passes invalid agent options: createAgent() throws one ConfigError at start-up
// (packaging test). Prints it as JSON and exits 3, or exits 0 if nothing was thrown.
import { createAgent } from '@risk-hub/agent';

try {
  createAgent({ application: 'shop', brokers: '127.0.0.1:9092', schemaRegistry: 'http://127.0.0.1:8081', maxQueue: -5, logger: null });
} catch (err) {
  console.log(JSON.stringify({ name: err.name, code: err.code, message: err.message }));
  process.exit(3);
}
process.exit(0);
