export {
  ERROR_CODES,
  WeftError,
  isWeftError,
  weftError,
  type ErrorCodeInfo,
  type WeftErrorCode,
  type WeftErrorOptions,
} from "./errors.js";
export {
  defineConfig,
  describeConfig,
  expectedForm,
  formatDuration,
  parseDuration,
  readConfig,
  type BoolEntry,
  type ConfigEntry,
  type ConfigOf,
  type ConfigSpec,
  type DurationEntry,
  type EnumEntry,
  type Env,
  type IntEntry,
  type ListEntry,
  type PortEntry,
  type StringEntry,
} from "./config.js";
export {
  LOG_LEVELS,
  LOG_LEVEL_CONFIG,
  createLogger,
  type LogLevel,
  type Logger,
  type LoggerOptions,
} from "./logger.js";
export {
  Counter,
  Gauge,
  Histogram,
  Registry,
  Summary,
  createRegistry,
  serveMetrics,
  type MetricsServer,
  type MetricsServerOptions,
  type RegistryOptions,
} from "./metrics.js";
export { Backoff, retry, type BackoffOptions, type Jitter, type RetryOptions } from "./backoff.js";
export { Drain, onSignal, type DrainResult, type SignalHandler } from "./drain.js";
export {
  CAPABILITIES,
  findCgroup2Mount,
  isBpffsMounted,
  missingCapabilities,
  parseMounts,
  readCapabilities,
  requireCapabilities,
  type CapabilityName,
  type MountEntry,
} from "./caps.js";
export { memoryReport, type HeapSpaceReport, type MemoryReport } from "./memory.js";
