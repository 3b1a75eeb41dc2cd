export {
  DEFAULT_POOL_IDLE_TIMEOUT_MS,
  HbonePool,
  poolKeyId,
  type HbonePoolOptions,
  type PoolConnectionSnapshot,
  type PoolKey,
  type PoolSnapshot,
} from "./pool.js";
