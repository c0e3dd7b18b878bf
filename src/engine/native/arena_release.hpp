/**
 *  @file arena_release.hpp
 *  @brief Large mappings given back to the system in steps, so no one call holds the address space.
 *
 *  Why: `munmap` of a large populated mapping frees every page while holding the process's
 *  address-space lock for writing. At 1 M x 128 that is hundreds of MB: a single munmap of
 *  600 MB held the lock for ~37 ms, and every mmap, mprotect or large malloc of the JS thread
 *  (V8 growing its heap, a reply buffer) waited that long, wherever the free itself ran.
 *  `MADV_DONTNEED` frees the same pages under the read lock; in 4 MiB steps, other threads map
 *  memory in between. The munmap that follows only drops an empty mapping.
 *
 *  usearch's tapes free their arenas with munmap: the addon compiles usearch with `munmap`
 *  renamed to `arena_munmap` (as `mmap` to `arena_mmap`, see arena_prefault.hpp).
 */
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>

namespace astronaut {

/// Mappings from this size are emptied in steps before they are unmapped.
inline constexpr std::size_t release_in_steps_from = std::size_t(16) << 20;

/// Gives back the whole pages inside [bytes, bytes + length) in 4 MiB steps (MADV_DONTNEED).
/// The memory stays mapped and reads as zeros afterwards.
inline void release_pages(void* bytes, std::size_t length) noexcept {
    std::size_t const page = std::size_t(::sysconf(_SC_PAGESIZE));
    std::size_t const step = std::size_t(4) << 20;
    std::uintptr_t from = (reinterpret_cast<std::uintptr_t>(bytes) + page - 1) & ~(page - 1);
    std::uintptr_t const to = (reinterpret_cast<std::uintptr_t>(bytes) + length) & ~(page - 1);
    for (; from < to; from += step)
        ::madvise(reinterpret_cast<void*>(from), (to - from < step ? to - from : step), MADV_DONTNEED);
}

/// `munmap` as usearch calls it.
inline int arena_munmap(void* addr, std::size_t length) noexcept {
    if (length >= release_in_steps_from)
        release_pages(addr, length);
    return ::munmap(addr, length);
}

} // namespace astronaut
