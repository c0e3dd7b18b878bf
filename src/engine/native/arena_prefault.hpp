/**
 *  @file arena_prefault.hpp
 *  @brief The pages of usearch's arenas faulted in ahead of a bulk load, on a thread of its own.
 *
 *  Why: loading a serialized graph copies it into fresh anonymous memory (usearch's tapes), and
 *  on this kind of machine the first touch of each 4 KiB page (the fault, zeroing, the cgroup's
 *  accounting) was about a third of the load's CPU time (`perf` on a 1 M x 128 load). The loader
 *  is one thread, because usearch parses its stream in order; the faults need not be. A helper
 *  asks the kernel to populate the pages just ahead of the loader's write position
 *  (MADV_POPULATE_WRITE), so the loader finds them present.
 *
 *  How it learns of the arenas: usearch's tapes (`memory_mapping_allocator_gt`) map each arena
 *  with mmap. The addon compiles usearch with `mmap` renamed to `arena_mmap` (a pass-through),
 *  which reports new anonymous mappings to the prefaulter active on the calling thread, if any.
 *
 *  What it must not do: make pages resident that the index will not use, because memory per
 *  vector is accounted from RSS. An arena's last part stays unused after a load (its capacity
 *  doubles); the helper stays at most `ahead_k` past the write position, and `finish()` gives
 *  back (MADV_DONTNEED) whatever it populated past the last byte written in each arena. Memory
 *  given back that way reads as zeros, which is all usearch assumes of memory it has not
 *  allocated yet.
 *
 *  Populating writes nothing: the helper and the loader may touch the same page at once.
 */
#pragma once

#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 // Linux 5.14; older kernels answer EINVAL and the helper stops
#endif

namespace astronaut {

class ArenaPrefault;

/// The prefaulter of the load running on this thread (usearch maps arenas on the loading thread).
inline thread_local ArenaPrefault* arena_watch = nullptr;

class ArenaPrefault {
    static constexpr std::size_t ahead_k = std::size_t(8) << 20;
    static constexpr std::size_t step_k = std::size_t(1) << 20;
    static constexpr std::size_t arenas_k = 64; // a tape doubles its arenas: 64 is beyond any size

    struct Arena {
        std::uint8_t* base = nullptr;
        std::size_t length = 0;
        std::size_t written = 0;  ///< end of the last write into it (loader thread only)
        std::size_t populated = 0; ///< populated from `populated_from` to here (helper only until finish)
        std::size_t populated_from = 0;
    };

    Arena arenas_[arenas_k];
    std::atomic<std::size_t> count_{0};
    std::atomic<std::uint8_t const*> position_{nullptr}; ///< the loader's latest write end
    std::atomic<bool> stop_{false};
    std::size_t current_ = arenas_k; ///< the arena the loader writes into (loader thread only)
    std::size_t page_;
    std::thread helper_;
    ArenaPrefault* previous_;

    static std::size_t round_up(std::size_t n, std::size_t to) noexcept { return (n + to - 1) / to * to; }

    void run() noexcept {
        while (!stop_.load(std::memory_order_acquire)) {
            std::uint8_t const* at = position_.load(std::memory_order_acquire);
            std::size_t n = count_.load(std::memory_order_acquire);
            Arena* arena = nullptr;
            for (std::size_t i = n; i-- > 0;)
                if (at >= arenas_[i].base && at < arenas_[i].base + arenas_[i].length) {
                    arena = &arenas_[i];
                    break;
                }
            if (arena) {
                std::size_t offset = std::size_t(at - arena->base) / page_ * page_;
                if (arena->populated < offset) // the loader overtook the helper: start again where it is
                    arena->populated_from = arena->populated = offset;
                std::size_t target = (std::min)(arena->length, offset + ahead_k);
                if (arena->populated < target) {
                    std::size_t len = (std::min)(step_k, target - arena->populated);
                    if (::madvise(arena->base + arena->populated, len, MADV_POPULATE_WRITE) != 0)
                        return; // unsupported or out of memory: the loader faults its own pages
                    arena->populated += len;
                    continue;
                }
            }
            struct timespec pause = {0, 50 * 1000};
            ::nanosleep(&pause, nullptr);
        }
    }

  public:
    explicit ArenaPrefault() : page_(std::size_t(::sysconf(_SC_PAGESIZE))), previous_(arena_watch) {
        arena_watch = this;
        helper_ = std::thread(&ArenaPrefault::run, this);
    }
    ~ArenaPrefault() { finish(); }
    ArenaPrefault(ArenaPrefault const&) = delete;
    ArenaPrefault& operator=(ArenaPrefault const&) = delete;

    /// A new anonymous mapping on the loading thread (from `arena_mmap`).
    void mapped(void* base, std::size_t length) noexcept {
        std::size_t n = count_.load(std::memory_order_relaxed);
        if (n == arenas_k)
            return;
        arenas_[n].base = static_cast<std::uint8_t*>(base);
        arenas_[n].length = length;
        count_.store(n + 1, std::memory_order_release);
    }

    /// The loader is about to write [at, at + n): move the helper along.
    void writing(void const* at, std::size_t n) noexcept {
        auto const* p = static_cast<std::uint8_t const*>(at);
        if (current_ >= arenas_k || p < arenas_[current_].base || p >= arenas_[current_].base + arenas_[current_].length) {
            current_ = arenas_k;
            for (std::size_t i = count_.load(std::memory_order_relaxed); i-- > 0;)
                if (p >= arenas_[i].base && p < arenas_[i].base + arenas_[i].length) {
                    current_ = i;
                    break;
                }
            if (current_ == arenas_k)
                return; // not an arena (a buffer of usearch's own): nothing to prefault
        }
        Arena& a = arenas_[current_];
        a.written = (std::max)(a.written, std::size_t(p - a.base) + n);
        position_.store(p, std::memory_order_release);
    }

    /// Stops the helper and gives back the pages it populated past what was written. Idempotent.
    void finish() noexcept {
        if (!helper_.joinable())
            return;
        stop_.store(true, std::memory_order_release);
        helper_.join();
        arena_watch = previous_;
        for (std::size_t i = 0, n = count_.load(std::memory_order_relaxed); i < n; ++i) {
            Arena& a = arenas_[i];
            std::size_t from = (std::max)(round_up(a.written, page_), a.populated_from);
            if (a.populated > from)
                ::madvise(a.base + from, a.populated - from, MADV_DONTNEED);
        }
    }
};

/// `mmap` as usearch calls it (see the top of this file).
inline void* arena_mmap(void* addr, std::size_t length, int prot, int flags, int fd, off_t offset) noexcept {
    void* p = ::mmap(addr, length, prot, flags, fd, offset);
    if (p != MAP_FAILED && fd == -1 && (flags & MAP_ANONYMOUS) && arena_watch)
        arena_watch->mapped(p, length);
    return p;
}

} // namespace astronaut
