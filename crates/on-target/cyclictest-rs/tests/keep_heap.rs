//! `keep_heap`: after it, a large allocation is not a mapping of its own (whose `free` would be
//! a `munmap`, a TLB shootdown on every CPU the process is live on, the samplers' included)
//! and freeing it does not shrink the heap. Its own test binary: `mallopt` is process-wide.

#![cfg(target_env = "gnu")]

/// A block far above glibc's default mmap threshold (128 KiB, at most 32 MiB when dynamic).
const LARGE: usize = 48 << 20;

#[test]
fn a_kept_heap_neither_maps_large_blocks_nor_gives_memory_back() {
    // SAFETY: mallinfo2 only reads the allocator's counters.
    let info = || unsafe { libc::mallinfo2() };
    let before = info();
    assert!(cyclictest::keep_heap(), "mallopt refused");
    let block = std::hint::black_box(vec![1u8; LARGE]);
    let held = info();
    assert!(
        held.hblkhd <= before.hblkhd,
        "the {LARGE}-byte block was mapped on its own: mmapped bytes {} -> {}",
        before.hblkhd,
        held.hblkhd
    );
    assert!(
        held.arena >= LARGE,
        "the {LARGE}-byte block is not in the heap: heap bytes {} -> {}",
        before.arena,
        held.arena
    );
    drop(block);
    let after = info();
    assert!(
        after.arena >= held.arena,
        "freeing gave memory back: heap bytes {} -> {}",
        held.arena,
        after.arena
    );
}
