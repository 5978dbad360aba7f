//! Allocator settings for tensor workloads, applied by each binary at start-up.
//!
//! A training step allocates and frees tens of buffers of 1-25 MB. With glibc's defaults the
//! large ones are `mmap`ed and unmapped again, and the top of the heap is trimmed back to the
//! OS, so every step pays for fresh zeroed pages (page faults were ~15% of a MiniLM step
//! here). Keeping freed memory in the process lets the next step reuse it: +20% inference
//! throughput at batch 32x128 on the 2-core benchmark machine, peak RSS unchanged (the peak
//! is the same set of live buffers). See crates/kernels/PERFORMANCE.md.
//!
//! Users can still tune glibc themselves: when any `MALLOC_*_` variable is set, nothing is
//! changed.

/// Serve buffers up to this size from the heap instead of `mmap` (glibc's ceiling for the
/// setting; larger buffers are always mapped).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: i32 = 32 << 20;
/// Give memory back to the OS only when this much is free at the top of the heap.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: i32 = 1 << 30;
/// Grow the heap in steps of this size (fewer `brk` calls while a step allocates).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TOP_PAD: i32 = 256 << 20;

/// Applies the settings above (glibc on Linux; a no-op elsewhere). Call first in `main`.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let user_tuned = std::env::vars_os().any(|(k, _)| {
            k.to_str()
                .is_some_and(|k| k.starts_with("MALLOC_") && k.ends_with('_'))
        });
        if user_tuned {
            return;
        }
        // SAFETY: mallopt only changes allocator parameters; it is called before any thread
        // is started and takes no pointers.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
            libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
            libc::mallopt(libc::M_TOP_PAD, TOP_PAD);
        }
    }
}

/// The process's peak resident set size in bytes so far (Linux `VmHWM`; `None` elsewhere).
/// Reported by `train` and the step benchmark, so memory is compared on the same measure
/// as PyTorch's side (`ru_maxrss`).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
