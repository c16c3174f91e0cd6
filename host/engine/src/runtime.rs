//! The wasmtime engine of a run: epoch interruption, the pooling allocator, the memory all
//! stores share, and the slots that bound how many stores are in flight.

use crate::sandbox::{EPOCH_TICK, MemoryPool};
use crate::sandbox::{Limits, SIGNER_SLOTS, SYNCER_SLOTS};
use anyhow::{Context, Result};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::{Config, InstanceAllocationStrategy, PoolingAllocationConfig};

/// A wasmtime engine with its pooling allocator, the memory all its stores share, and the
/// slots that bound how many stores are in flight.
#[derive(Clone)]
pub struct Runtime {
    /// The wasmtime engine.
    pub engine: wasmtime::Engine,
    pub(crate) memory: Arc<MemoryPool>,
    syncer_slots: Arc<Semaphore>,
    signer_slots: Arc<Semaphore>,
    /// Syncer instances kept between calls, across every account.
    warm_syncers: Arc<AtomicUsize>,
}

/// Syncer instances a runtime keeps between calls: half its slots, so that the other half
/// is always there for fresh stores and a kept instance never starves a call of a slot.
const MAX_WARM_SYNCERS: usize = SYNCER_SLOTS / 2;

/// One kept syncer instance, counted until it is dropped.
pub(crate) struct Kept(Arc<AtomicUsize>);

impl Drop for Kept {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl std::ops::Deref for Runtime {
    type Target = wasmtime::Engine;
    fn deref(&self) -> &wasmtime::Engine {
        &self.engine
    }
}

impl Runtime {
    /// Linear memory held by all stores of this runtime now.
    pub fn memory_in_use(&self) -> usize {
        self.memory.in_use()
    }

    /// Counts one more kept syncer instance, unless as many as may be kept are.
    pub(crate) fn keep_warm(&self) -> Option<Kept> {
        self.warm_syncers
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_WARM_SYNCERS).then_some(n + 1)
            })
            .ok()
            .map(|_| Kept(self.warm_syncers.clone()))
    }

    fn slots(&self, signer: bool) -> &Arc<Semaphore> {
        if signer {
            &self.signer_slots
        } else {
            &self.syncer_slots
        }
    }

    /// A free slot now, if there is one.
    pub(crate) fn try_slot(&self, signer: bool) -> Option<OwnedSemaphorePermit> {
        self.slots(signer).clone().try_acquire_owned().ok()
    }

    pub(crate) async fn slot(&self, signer: bool) -> OwnedSemaphorePermit {
        self.slots(signer)
            .clone()
            .acquire_owned()
            .await
            .expect("plugin slots are never closed")
    }
}

/// A runtime with the default limits.
pub fn new_engine() -> Result<Runtime> {
    new_runtime(&Limits::default())
}

/// A wasmtime engine with epoch interruption and a pooling allocator sized for
/// [`SYNCER_SLOTS`] + [`SIGNER_SLOTS`] stores of one memory each, and a thread that
/// advances the epoch.
pub fn new_runtime(limits: &Limits) -> Result<Runtime> {
    use crate::sandbox::{CORE_INSTANCES_PER_STORE, TABLE_ELEMENTS, TABLES_PER_STORE};
    // One spare slot: a syncer's `resource-type` call at load time.
    let stores = (SYNCER_SLOTS + SIGNER_SLOTS + 1) as u32;
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(stores)
        .total_core_instances(stores * CORE_INSTANCES_PER_STORE as u32)
        .total_memories(stores)
        .total_tables(stores * TABLES_PER_STORE as u32)
        .total_stacks(stores)
        .max_memories_per_module(1)
        .max_memories_per_component(1)
        .max_tables_per_module(TABLES_PER_STORE as u32)
        .max_tables_per_component(TABLES_PER_STORE as u32)
        .max_core_instances_per_component(CORE_INSTANCES_PER_STORE as u32)
        .table_elements(TABLE_ELEMENTS)
        .max_memory_size(limits.memory_bytes);
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    if std::env::var_os("RAMSYNC_PERFMAP").is_some() {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    let engine = wasmtime::Engine::new(&config)?;
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("ramsync-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .context("cannot start the epoch thread")?;
    Ok(Runtime {
        engine,
        memory: MemoryPool::new(limits.total_memory_bytes),
        syncer_slots: Arc::new(Semaphore::new(SYNCER_SLOTS)),
        signer_slots: Arc::new(Semaphore::new(SIGNER_SLOTS)),
        warm_syncers: Arc::default(),
    })
}
