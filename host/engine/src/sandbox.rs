//! What every plugin call is held to, beyond the HTTP policy: a CPU budget that counts guest
//! execution only, memory caps per store and across every store of a runtime, and a bounded
//! number of stores in flight (the pooling allocator's slots).
//!
//! CPU: the epoch ticks every [`EPOCH_TICK`] of wall-clock time, so an epoch deadline alone
//! would also count time a guest spends waiting on HTTP, the rate limiter or a clock. The
//! call hook adds up the time spent in wasm between host calls, and when the epoch deadline
//! comes the callback traps only if that guest time is past the budget; otherwise it re-arms
//! the deadline for what is left.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use wasmtime::{CallHook, ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::WasiCtx;

/// How often the epoch advances; CPU deadlines are checked at this granularity.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Linear memories per store: a component built by the Rust toolchain has one.
pub const MEMORIES_PER_STORE: usize = 1;
/// Tables per store, across the core instances of one component.
pub const TABLES_PER_STORE: usize = 8;
/// Core instances per store: the main module and the toolchain's shims.
pub const CORE_INSTANCES_PER_STORE: usize = 16;
/// Elements one table may grow to.
pub const TABLE_ELEMENTS: usize = 20_000;

/// Guest execution time of one store, measured between host calls.
#[derive(Debug)]
pub struct CpuMeter {
    budget: Duration,
    spent: Duration,
    running_since: Option<Instant>,
}

impl CpuMeter {
    /// A meter with `budget` of guest time.
    pub fn new(budget: Duration) -> Self {
        CpuMeter {
            budget,
            spent: Duration::ZERO,
            running_since: None,
        }
    }

    /// Guest time so far, including the stretch running now.
    pub fn spent(&self) -> Duration {
        self.spent + self.running_since.map_or(Duration::ZERO, |s| s.elapsed())
    }

    fn enter_guest(&mut self) {
        self.running_since.get_or_insert_with(Instant::now);
    }

    fn leave_guest(&mut self) {
        if let Some(since) = self.running_since.take() {
            self.spent += since.elapsed();
        }
    }
}

fn ticks(d: Duration) -> u64 {
    (d.as_nanos() / EPOCH_TICK.as_nanos()).max(1) as u64
}

/// Store state that carries a [`CpuMeter`] and a [`MemoryLimiter`].
pub trait Metered: Send + 'static {
    /// The store's CPU meter.
    fn meter(&mut self) -> &mut CpuMeter;
    /// The store's memory limiter.
    fn limiter(&mut self) -> &mut MemoryLimiter;
}

/// Holds a store to its CPU budget (guest time only) and its memory limiter.
pub fn limit<T: Metered>(store: &mut Store<T>) {
    cap_memory_and_arm(store);
    store.call_hook(|mut cx, hook| {
        let meter = cx.data_mut().meter();
        match hook {
            CallHook::CallingWasm | CallHook::ReturningFromHost => meter.enter_guest(),
            CallHook::ReturningFromWasm | CallHook::CallingHost => meter.leave_guest(),
        }
        Ok(())
    });
    store.epoch_deadline_callback(|mut cx| {
        let meter = cx.data_mut().meter();
        let spent = meter.spent();
        if spent >= meter.budget {
            return Ok(UpdateDeadline::Interrupt);
        }
        Ok(UpdateDeadline::Continue(ticks(meter.budget - spent)))
    });
}

/// Holds a store whose calls have nothing to wait for (a signer reads a clock and randomness
/// and returns) to its budget counted in wall time, which is its guest time plus any wait:
/// stricter than [`limit`], and without its call hook, which reads the clock twice on every
/// entry into wasm (for a signature, once per string the host passes in).
pub fn limit_non_waiting<T: Metered>(store: &mut Store<T>) {
    cap_memory_and_arm(store);
    store.epoch_deadline_trap();
}

/// The memory limiter, and the first deadline at the end of the budget.
fn cap_memory_and_arm<T: Metered>(store: &mut Store<T>) {
    store.limiter(|s| s.limiter());
    let budget = store.data_mut().meter().budget;
    store.set_epoch_deadline(ticks(budget));
}

/// Gives a reused store a fresh CPU budget for its next call: the budget is per call, not
/// per store.
pub fn rearm<T: Metered>(store: &mut Store<T>) {
    let meter = store.data_mut().meter();
    *meter = CpuMeter::new(meter.budget);
    let budget = meter.budget;
    store.set_epoch_deadline(ticks(budget));
}

/// Linear memory in use by every store of one runtime, against its total.
#[derive(Debug)]
pub struct MemoryPool {
    total: usize,
    in_use: AtomicUsize,
}

impl MemoryPool {
    /// A pool of `total` bytes.
    pub fn new(total: usize) -> Arc<Self> {
        Arc::new(MemoryPool {
            total,
            in_use: AtomicUsize::new(0),
        })
    }

    /// Bytes held by live stores.
    pub fn in_use(&self) -> usize {
        self.in_use.load(Ordering::Relaxed)
    }

    /// Whether at most half of the total is held: kept instances may take no more, so that
    /// fresh stores always find memory.
    fn room_to_keep(&self) -> bool {
        self.in_use() <= self.total / 2
    }

    fn reserve(&self, bytes: usize) -> bool {
        self.in_use
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|n| *n <= self.total)
            })
            .is_ok()
    }

    fn release(&self, bytes: usize) {
        self.in_use.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// One store's memory limits: its own cap, and its share of the runtime's total, returned
/// when the store is dropped.
#[derive(Debug)]
pub struct MemoryLimiter {
    per_store: usize,
    held: usize,
    pool: Arc<MemoryPool>,
}

impl MemoryLimiter {
    /// A store's limiter: at most `per_store` bytes, each taken from `pool`.
    pub fn new(per_store: usize, pool: Arc<MemoryPool>) -> Self {
        MemoryLimiter {
            per_store,
            held: 0,
            pool,
        }
    }

    /// Whether the store may be kept between calls: it holds at most an eighth of its cap,
    /// and the runtime's stores together at most half of the total. Otherwise it gives its
    /// memory back, so that fresh stores always find some.
    pub fn may_be_kept(&self) -> bool {
        self.held <= self.per_store / 8 && self.pool.room_to_keep()
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let more = desired.saturating_sub(current);
        if self.held + more > self.per_store || !self.pool.reserve(more) {
            return Ok(false);
        }
        self.held += more;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        CORE_INSTANCES_PER_STORE
    }

    fn tables(&self) -> usize {
        TABLES_PER_STORE
    }

    fn memories(&self) -> usize {
        MEMORIES_PER_STORE
    }
}

impl Drop for MemoryLimiter {
    fn drop(&mut self) {
        self.pool.release(self.held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_bounds_the_total_and_stores_give_back_what_they_held() {
        let pool = MemoryPool::new(10 << 20);
        let mut a = MemoryLimiter::new(8 << 20, pool.clone());
        let mut b = MemoryLimiter::new(8 << 20, pool.clone());
        assert!(a.memory_growing(0, 6 << 20, None).unwrap());
        assert!(
            !a.memory_growing(6 << 20, 9 << 20, None).unwrap(),
            "past the store's cap"
        );
        assert!(
            !b.memory_growing(0, 5 << 20, None).unwrap(),
            "past the total"
        );
        assert!(b.memory_growing(0, 4 << 20, None).unwrap());
        assert_eq!(pool.in_use(), 10 << 20);
        drop(a);
        assert_eq!(pool.in_use(), 4 << 20);
        drop(b);
        assert_eq!(pool.in_use(), 0);
    }

    #[test]
    fn time_outside_the_guest_is_not_counted() {
        let mut m = CpuMeter::new(Duration::from_millis(50));
        m.enter_guest();
        std::thread::sleep(Duration::from_millis(5));
        m.leave_guest();
        std::thread::sleep(Duration::from_millis(60));
        let spent = m.spent();
        assert!(
            spent >= Duration::from_millis(5) && spent < Duration::from_millis(50),
            "{spent:?}"
        );
    }
}

/// Syncer stores in flight at once in one runtime; more calls wait for a slot. Half of them
/// may hold kept instances, so that a sync at `--concurrency 128` reuses an instance for
/// every call: at 128 slots only 64 were kept, and the other calls each instantiated a
/// store and threw it away (a fifth more CPU per call at 20,000 users).
pub const SYNCER_SLOTS: usize = 256;
/// Signer stores in flight at once in one runtime. Separate from the syncers' slots, since
/// a syncer holds its slot while it waits for a signature.
pub const SIGNER_SLOTS: usize = 32;

/// Resource limits for every plugin call.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Linear memory one store may grow to.
    pub memory_bytes: usize,
    /// Linear memory all stores of a runtime may hold together.
    pub total_memory_bytes: usize,
    /// Wall-clock time one call may take, HTTP included, waits for the rate limit excluded.
    pub call_timeout: Duration,
    /// Time a call may spend running wasm code; time in host calls (HTTP, signing, the
    /// rate limiter, clocks) does not count.
    pub cpu_deadline: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 128 << 20,
            total_memory_bytes: 2 << 30,
            call_timeout: Duration::from_secs(120),
            cpu_deadline: Duration::from_secs(30),
        }
    }
}

/// A sandbox with no filesystem, environment, arguments, stdio or sockets.
pub(crate) fn bare_wasi() -> WasiCtx {
    WasiCtx::builder()
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build()
}

/// A one-line description of a trap, without the wasm backtrace.
pub(crate) fn trap_message(e: &wasmtime::Error) -> String {
    if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
        return match trap {
            wasmtime::Trap::Interrupt => "ran past its CPU deadline".into(),
            other => format!("trapped: {other}"),
        };
    }
    let root = e.root_cause().to_string();
    if root.contains("memory") && (root.contains("limit") || root.contains("grow")) {
        return format!("hit its memory cap: {root}");
    }
    format!("failed: {e:#}")
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}
