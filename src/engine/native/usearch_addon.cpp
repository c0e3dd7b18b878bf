/**
 *  @file usearch_addon.cpp
 *  @brief Astronaut's native addon: one usearch `index_dense_t` per JS `NativeIndex`, plus CRC32C.
 *
 *  Why our own addon instead of usearch's JS binding (see docs in src/engine/native-index.ts):
 *  the stock binding has no get-by-key, no per-query expansion, no filtered or subset search,
 *  ignores a typed array's byte offset in `exactSearch`, and runs everything, `save`/`load`
 *  included, on the JS thread. Here every batch, (de)serialisation and large CRC runs on the
 *  libuv thread pool through `Napi::AsyncWorker`, and single calls stay synchronous.
 *
 *  Division of labour (the style of usearch's own binding): src/engine/native-index.ts checks
 *  every argument (types, lengths, slot ranges, capacity); this file assumes checked input, but
 *  still verifies argument *types* cheaply so a misuse throws instead of crashing. Every usearch
 *  error and C++ exception becomes a JS `Error` (NODE_ADDON_API_CPP_EXCEPTIONS_ALL on the sync
 *  path, `Job::fail` on the async path). usearch's `error_t` throws from its destructor when an
 *  error was not released, so every result's error is released explicitly (`take_error`).
 *
 *  Addressing: callers name elements by a u32 "slot". usearch keys are `mix(slot)`, a bijection
 *  on 64 bits (murmur3's fmix64), and results are mapped back with its inverse. Dense sequential
 *  keys are the worst case for an open-addressing table that hashes by identity; usearch 2.26.2's
 *  `hash_gt<uint64_t>` already scatters keys (SplitMix64), so the mix is insurance against
 *  headers that do not, at a few cycles per key. No u32 maps to usearch's free key (all ones):
 *  checked by a static_assert below.
 *
 *  Threads: usearch keeps one search/insert context per "thread id" and lets a caller pass the id
 *  explicitly (`index_limits_t::threads`, the `thread` argument of add/search). Context 0 belongs
 *  to the JS thread (all synchronous calls); ids 1..N go to async workers through `ContextPool`,
 *  where N is the libuv pool size the TS wrapper passes in, so a worker never waits in practice.
 *  `reserve` reallocates those contexts, so it is refused while any async job is in flight (the
 *  TS wrapper surfaces the same rule). Vectors converted to the storage type go through a buffer
 *  per thread (`scratch`), not per context. Mutations (add, addBatch, remove) are
 *  refused while a serialisation runs, so a snapshot is a consistent cut.
 *
 *  Per-query EF without shared state: `index_dense_t::search` reads the index-wide
 *  `expansion_search`, but `index_gt::search` uses `max(expansion, wanted)` as its beam width. We
 *  fix the index-wide value at 1 and ask for `wanted = max(k, ef)` results, keeping the first k:
 *  a beam of exactly `ef` (or k, if larger), as in the HNSW paper, with nothing mutated per call.
 *
 *  Other usearch 2.26.2 facts this file relies on or works around:
 *  - Per-level links come from the public `index_dense_t::neighbors(key, level)` and
 *    `level_of(key)`; no private access, no patched headers.
 *  - Its f32->b1 cast zeroes only `dims / 8` bytes and ORs bits in, so with dims % 8 != 0 the
 *    last byte keeps stale bits from the previous vector cast in that context: we pack bits
 *    ourselves (`pack_bits`).
 *  - Removed nodes keep the free key and stay linked; results carrying it are skipped.
 */
#if defined(__has_include)
#if __has_include(<malloc.h>)
#include <malloc.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <unistd.h>
#include <cerrno>
#endif
#endif
#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#include <nmmintrin.h> // _mm_crc32_u8/_u64, used only inside a target("sse4.2") function
#define ASTRONAUT_X86 1
#endif

#ifndef NAPI_CPP_EXCEPTIONS
#define NAPI_CPP_EXCEPTIONS
#endif
#ifndef NODE_ADDON_API_CPP_EXCEPTIONS_ALL
#define NODE_ADDON_API_CPP_EXCEPTIONS_ALL // std::exception from a sync call becomes a JS Error
#endif
#include <napi.h>
#include <v8.h> // only for Isolate::MemoryPressureNotification (reduceHeap below): N-API has no equivalent

#include "arena_prefault.hpp"
#include "arena_release.hpp"
// usearch maps its tapes' arenas through these names: a bulk load prefaults them
// (arena_prefault.hpp), and a large one is given back in steps when freed (arena_release.hpp).
#define mmap ::astronaut::arena_mmap
#define munmap ::astronaut::arena_munmap
#include <usearch/index_dense.hpp>
#undef munmap
#undef mmap

#include "flat_store.hpp"

namespace {

using namespace unum::usearch;
using dense_t = index_dense_t;
using vkey_t = dense_t::vector_key_t;

// ---------------------------------------------------------------------------------------------
// Slot <-> key mapping

constexpr std::uint64_t k_mix1 = 0xff51afd7ed558ccdULL;
constexpr std::uint64_t k_mix2 = 0xc4ceb9fe1a85ec53ULL;

/// Inverse of an odd number modulo 2^64 (Newton's iteration doubles the correct bits each step).
constexpr std::uint64_t odd_inverse(std::uint64_t a) {
    std::uint64_t x = a; // correct to 3 bits for odd a
    for (int i = 0; i < 6; ++i)
        x *= 2 - a * x;
    return x;
}
constexpr std::uint64_t k_unmix1 = odd_inverse(k_mix1);
constexpr std::uint64_t k_unmix2 = odd_inverse(k_mix2);

/// Inverse of y = x ^ (x >> 33): since 33 >= 32, one more xor-shift restores x.
constexpr std::uint64_t unshift33(std::uint64_t y) { return y ^ (y >> 33); }

constexpr vkey_t slot_to_key(std::uint64_t x) {
    x ^= x >> 33;
    x *= k_mix1;
    x ^= x >> 33;
    x *= k_mix2;
    x ^= x >> 33;
    return x;
}
constexpr std::uint64_t key_to_slot(vkey_t x) {
    x = unshift33(x);
    x *= k_unmix2;
    x = unshift33(x);
    x *= k_unmix1;
    x = unshift33(x);
    return x;
}
static_assert(k_mix1 * k_unmix1 == 1 && k_mix2 * k_unmix2 == 1, "modular inverses");
static_assert(key_to_slot(slot_to_key(0)) == 0 && key_to_slot(slot_to_key(0xFFFFFFFFull)) == 0xFFFFFFFFull &&
                  key_to_slot(slot_to_key(123456789)) == 123456789,
              "the key mix must be a bijection");
// usearch marks removed nodes with the all-ones key: no u32 slot may ever map to it.
static_assert(key_to_slot(~std::uint64_t{0}) > 0xFFFFFFFFull, "a slot would collide with usearch's free key");

// ---------------------------------------------------------------------------------------------
// Small helpers

/// Takes the message out of a usearch error (whose destructor would otherwise throw).
std::string take_error(unum::usearch::error_t& error) {
    char const* message = error.release();
    return message ? std::string(message) : std::string("unknown usearch error");
}

metric_kind_t parse_metric(std::string const& name) {
    if (name == "ip") return metric_kind_t::ip_k;
    if (name == "l2sq") return metric_kind_t::l2sq_k;
    if (name == "cos") return metric_kind_t::cos_k;
    if (name == "hamming") return metric_kind_t::hamming_k;
    if (name == "jaccard") return metric_kind_t::jaccard_k;
    throw std::invalid_argument("unknown metric: " + name);
}

scalar_kind_t parse_scalar(std::string const& name) {
    if (name == "f32") return scalar_kind_t::f32_k;
    if (name == "f16") return scalar_kind_t::f16_k;
    if (name == "bf16") return scalar_kind_t::bf16_k;
    if (name == "i8") return scalar_kind_t::i8_k;
    if (name == "b1") return scalar_kind_t::b1x8_k;
    throw std::invalid_argument("unknown scalar: " + name);
}

/// Typed-array accessors. `Data()` of node-addon-api already includes the view's byte offset
/// (it comes from napi_get_typedarray_info), unlike `ArrayBuffer().Data()`, which usearch's own
/// `exactSearch` used. Wrong types throw a TypeError instead of being reinterpreted.
template <typename T, napi_typedarray_type Kind> Napi::TypedArrayOf<T> typed(Napi::Value value, char const* what) {
    if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != Kind)
        throw Napi::TypeError::New(value.Env(), std::string("expected a typed array of the right kind for ") + what);
    return value.As<Napi::TypedArrayOf<T>>();
}
Napi::Float32Array f32_array(Napi::Value v, char const* what) { return typed<float, napi_float32_array>(v, what); }
Napi::Uint32Array u32_array(Napi::Value v, char const* what) { return typed<std::uint32_t, napi_uint32_array>(v, what); }
Napi::Uint8Array u8_array(Napi::Value v, char const* what) { return typed<std::uint8_t, napi_uint8_array>(v, what); }

std::size_t size_arg(Napi::Value value) {
    double number = value.As<Napi::Number>().DoubleValue();
    return number > 0 ? static_cast<std::size_t>(number) : 0;
}

// ---------------------------------------------------------------------------------------------
// CRC32C (Castagnoli): SSE4.2 instruction when the CPU has it, slice-by-8 tables otherwise.
// Convention: crc32c(data, seed) continues a previous crc32c result; seed 0 starts afresh.

struct Crc32cTables {
    std::uint32_t t[8][256];
    Crc32cTables() {
        for (std::uint32_t i = 0; i < 256; ++i) {
            std::uint32_t c = i;
            for (int k = 0; k < 8; ++k)
                c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
            t[0][i] = c;
        }
        for (std::uint32_t i = 0; i < 256; ++i)
            for (int s = 1; s < 8; ++s)
                t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
    }
};
Crc32cTables const crc_tables;

std::uint32_t crc32c_software(std::uint32_t seed, std::uint8_t const* p, std::size_t n) {
    auto const& t = crc_tables.t;
    std::uint32_t c = ~seed;
    while (n >= 8) {
        std::uint32_t lo, hi;
        std::memcpy(&lo, p, 4);
        std::memcpy(&hi, p + 4, 4);
        lo ^= c; // little-endian hosts only (x86-64, arm64)
        c = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^
            t[3][hi & 0xFF] ^ t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
        p += 8, n -= 8;
    }
    while (n--)
        c = (c >> 8) ^ t[0][(c ^ *p++) & 0xFF];
    return ~c;
}

#if defined(ASTRONAUT_X86)
__attribute__((target("sse4.2"))) std::uint32_t crc32c_sse42(std::uint32_t seed, std::uint8_t const* p,
                                                             std::size_t n) {
    std::uint32_t c = ~seed;
    while (n && (reinterpret_cast<std::uintptr_t>(p) & 7))
        c = _mm_crc32_u8(c, *p++), --n;
    std::uint64_t c64 = c;
    while (n >= 8) {
        std::uint64_t word;
        std::memcpy(&word, p, 8);
        c64 = _mm_crc32_u64(c64, word);
        p += 8, n -= 8;
    }
    c = static_cast<std::uint32_t>(c64);
    while (n--)
        c = _mm_crc32_u8(c, *p++);
    return ~c;
}
bool const crc_hardware = __builtin_cpu_supports("sse4.2");
#else
bool const crc_hardware = false;
#endif

std::uint32_t crc32c(std::uint32_t seed, std::uint8_t const* p, std::size_t n) {
#if defined(ASTRONAUT_X86)
    if (crc_hardware)
        return crc32c_sse42(seed, p, n);
#endif
    return crc32c_software(seed, p, n);
}

// ---------------------------------------------------------------------------------------------
// Snapshot sections read straight from their file

/// A file opened read-only for positioned reads, closed with the object.
class SectionFile {
    int fd_;
    int error_;

  public:
    explicit SectionFile(std::string const& path)
        : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)), error_(fd_ < 0 ? errno : 0) {}
    ~SectionFile() {
        if (fd_ >= 0)
            ::close(fd_);
    }
    SectionFile(SectionFile const&) = delete;
    SectionFile& operator=(SectionFile const&) = delete;

    bool opened() const noexcept { return fd_ >= 0; }
    /// Throws "cannot open …" unless the file opened.
    void require(std::string const& path) const {
        if (fd_ < 0)
            throw std::runtime_error("cannot open " + path + ": " + std::strerror(error_));
    }
    /// Exactly `n` bytes at `offset`, through short reads and EINTR; false when the file ends
    /// first or a read fails.
    bool read_at(std::uint8_t* out, std::size_t n, std::int64_t offset) const noexcept {
        std::size_t got = 0;
        while (got < n) {
            ssize_t r = ::pread(fd_, out + got, n - got, offset + std::int64_t(got));
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                return false;
            got += std::size_t(r);
        }
        return true;
    }
};

/// Sections from this size on are loaded with an ArenaPrefault beside the loader (below it, the
/// faults are a few milliseconds and a thread is not worth starting).
constexpr std::size_t prefault_from_k = std::size_t(16) << 20;

/// Refuses a section whose usearch stream (index_dense_t's format in usearch 2.x: a u32 row and
/// column count, the vectors, a 64-byte head, index_gt's 40-byte header, an i16 level per node,
/// then each node) does not add up, before usearch allocates anything from its counts.
///
/// Why: a restart verifies a graph's checksum while loading it, not in a pass before, so usearch
/// may parse a damaged section. It allocates from the row count and the node count, and a level
/// that went negative makes a node size wrap around; its load is noexcept, so a failed allocation
/// ends the process or leaves a null node behind. The sizes are checked here against the section
/// length instead: then every allocation is bounded by the file, and any other damage is caught
/// by the checksum at the end, before the index is used.
static void check_dense_layout(SectionFile const& file, std::int64_t offset, std::size_t length,
                               std::size_t bytes_per_vector, std::size_t connectivity) {
    auto bad = [](std::string const& what) { return std::runtime_error("usearch could not load the section: " + what); };
    std::uint32_t matrix[2];
    if (length < sizeof(matrix) || !file.read_at(reinterpret_cast<std::uint8_t*>(matrix), sizeof(matrix), offset))
        throw bad("too short for its vector count");
    std::uint64_t rows = matrix[0], cols = matrix[1];
    if (cols != bytes_per_vector)
        throw bad("vectors of " + std::to_string(cols) + " bytes where " + std::to_string(bytes_per_vector) +
                  " were expected: other dimensions or scalar");
    std::uint64_t at = sizeof(matrix);
    if (cols == 0 || rows > (length - at) / cols)
        throw bad("more vectors than bytes");
    at += rows * cols + 64; // the vectors, then index_dense_t's head
    index_serialized_header_t header;
    if (at > length || length - at < sizeof(header) ||
        !file.read_at(reinterpret_cast<std::uint8_t*>(&header), sizeof(header), offset + std::int64_t(at)))
        throw bad("too short for the graph header");
    at += sizeof(header);
    if (header.size != rows)
        throw bad("the graph and the vectors disagree on the count");
    if (header.size == 0) {
        if (at != length)
            throw bad("bytes after an empty graph");
        return;
    }
    if (header.connectivity != connectivity || header.connectivity_base < connectivity ||
        header.connectivity_base > 64 * connectivity || header.max_level > 64)
        throw bad("graph header out of range");
    using level_t = std::int16_t;
    std::uint64_t head_bytes = sizeof(std::uint64_t) + sizeof(level_t); // key, level
    std::uint64_t base_bytes = header.connectivity_base * sizeof(std::uint32_t) + sizeof(std::uint32_t);
    std::uint64_t level_bytes = header.connectivity * sizeof(std::uint32_t) + sizeof(std::uint32_t);
    if (header.size > (length - at) / sizeof(level_t))
        throw bad("more levels than bytes");
    std::uint64_t nodes = 0;
    constexpr std::size_t chunk_k = 1 << 16;
    std::vector<level_t> levels(chunk_k);
    for (std::uint64_t done = 0; done < header.size;) {
        std::size_t n = std::size_t((std::min<std::uint64_t>)(chunk_k, header.size - done));
        if (!file.read_at(reinterpret_cast<std::uint8_t*>(levels.data()), n * sizeof(level_t),
                          offset + std::int64_t(at + done * sizeof(level_t))))
            throw bad("too short for its levels");
        for (std::size_t i = 0; i < n; ++i) {
            if (levels[i] < 0 || std::uint64_t(levels[i]) > header.max_level)
                throw bad("a node level out of range");
            nodes += head_bytes + base_bytes + level_bytes * std::uint64_t(levels[i]);
        }
        done += n;
    }
    at += header.size * sizeof(level_t);
    if (nodes != length - at)
        throw bad("node sizes do not add up to the section");
}

/// Reads a file section ahead of its consumer, on a thread of its own, checksumming each window
/// as it is read: the consumer (usearch parsing a graph) and the reads and CRC run on two cores
/// at once instead of one after the other. Windows are handed out in order; the reader stays at
/// most `windows_k` ahead.
class ReadAhead {
    static constexpr std::size_t window_k = std::size_t(4) << 20;
    static constexpr std::size_t windows_k = 4;
    SectionFile const& file_;
    std::int64_t offset_;
    std::size_t length_;
    std::unique_ptr<std::uint8_t[]> buffers_[windows_k];
    std::size_t sizes_[windows_k] = {};
    std::mutex mutex_;
    std::condition_variable cv_;
    std::size_t produced_ = 0; // windows read
    std::size_t released_ = 0; // windows the consumer is done with
    bool failed_ = false, stop_ = false;
    std::uint32_t crc_ = 0;    // of the windows read; the reader's until it ends
    std::thread thread_;

    void run() {
        std::size_t total = (length_ + window_k - 1) / window_k;
        for (std::size_t w = 0; w < total; ++w) {
            {
                std::unique_lock<std::mutex> lock(mutex_);
                cv_.wait(lock, [&] { return stop_ || w - released_ < windows_k; });
                if (stop_)
                    return;
            }
            std::uint8_t* buffer = buffers_[w % windows_k].get();
            std::size_t want = (std::min)(window_k, length_ - w * window_k);
            bool ok = file_.read_at(buffer, want, offset_ + std::int64_t(w * window_k));
            if (ok)
                crc_ = crc32c(crc_, buffer, want);
            {
                std::lock_guard<std::mutex> lock(mutex_);
                if (!ok)
                    failed_ = true;
                else {
                    sizes_[w % windows_k] = want;
                    produced_ = w + 1;
                }
            }
            cv_.notify_all();
            if (!ok)
                return;
        }
    }

  public:
    ReadAhead(SectionFile const& file, std::int64_t offset, std::size_t length)
        : file_(file), offset_(offset), length_(length) {
        for (auto& b : buffers_)
            b.reset(new std::uint8_t[window_k]);
        thread_ = std::thread(&ReadAhead::run, this);
    }
    ~ReadAhead() { finish(); }
    ReadAhead(ReadAhead const&) = delete;
    ReadAhead& operator=(ReadAhead const&) = delete;

    /// Window `w` once read (the caller is done with every window before it), or {nullptr, 0} if
    /// the file ended or a read failed first.
    std::pair<std::uint8_t const*, std::size_t> window(std::size_t w) {
        std::unique_lock<std::mutex> lock(mutex_);
        released_ = w;
        cv_.notify_all();
        cv_.wait(lock, [&] { return failed_ || produced_ > w; });
        if (produced_ <= w)
            return {nullptr, 0};
        return {buffers_[w % windows_k].get(), sizes_[w % windows_k]};
    }

    /// Stops the reader; the CRC of everything it read, in order.
    std::uint32_t finish() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stop_ = true;
        }
        cv_.notify_all();
        if (thread_.joinable())
            thread_.join();
        return crc_;
    }
};

// ---------------------------------------------------------------------------------------------
// Context ids for async workers

/// Hands out usearch context ids 1..N to libuv workers; id 0 is the JS thread's. N matches the
/// libuv pool size, so `acquire` finds one free at once; if the pool was made larger behind our
/// back, a worker waits here for a peer to finish rather than sharing a context (never a crash).
class ContextPool {
    std::mutex mutex_;
    std::condition_variable released_;
    std::vector<std::size_t> free_;

  public:
    void reset(std::size_t first, std::size_t count) {
        std::lock_guard<std::mutex> lock(mutex_);
        free_.clear();
        for (std::size_t i = 0; i < count; ++i)
            free_.push_back(first + count - 1 - i);
    }
    std::size_t acquire() {
        std::unique_lock<std::mutex> lock(mutex_);
        released_.wait(lock, [&] { return !free_.empty(); });
        std::size_t id = free_.back();
        free_.pop_back();
        return id;
    }
    /// An id if one is free now, without waiting (the search team's helpers never wait for one).
    bool try_acquire(std::size_t& id) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (free_.empty())
            return false;
        id = free_.back();
        free_.pop_back();
        return true;
    }
    void release(std::size_t id) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            free_.push_back(id);
        }
        released_.notify_one();
    }
};

// ---------------------------------------------------------------------------------------------
// The search team: helper threads that join the JS thread in one synchronous batch of searches

/// The first error of work that several threads share (a batch job's chunks, a team batch);
/// later ones are dropped. Read by the JS thread once every thread is done.
struct FirstError {
    std::atomic<bool> failed{false};
    std::mutex error_mutex;
    std::string error;

    void fail(std::string message) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!failed.exchange(true))
            error = std::move(message);
    }
    /// Runs `fn` on this thread; an exception it throws is kept, not propagated.
    template <typename fn_at> void guard(fn_at&& fn) noexcept {
        try {
            fn();
        } catch (std::exception const& e) {
            fail(e.what());
        } catch (...) {
            fail("unknown native error");
        }
    }
};

/// One synchronous batch. `run(context)` pulls items from a shared cursor until none is left;
/// the JS thread runs it with context 0, each helper with a context leased from `pool`.
struct TeamWork : FirstError {
    std::function<void(std::size_t context)> run;
    ContextPool* pool = nullptr;

    void run_here(std::size_t context) noexcept {
        guard([&] { run(context); });
    }
};

/// Why not the libuv pool: a batch of searches there costs a queue hop per chunk, a wake-up per
/// pool thread, an async completion and a promise per batch, and the JS thread idles meanwhile.
/// Here the JS thread searches too, and the helpers (one fewer than the cores) only join in: a
/// helper that wakes after the JS thread has taken every item finds nothing and sleeps again.
/// The JS thread is held for at most its share of the batch plus one item (the op queue bounds a
/// batch's cost). Process-wide, created on first use, never destroyed (they sleep when idle).
class SearchTeam {
    std::mutex mutex_;
    std::condition_variable wake_, idle_;
    std::atomic<TeamWork*> work_{nullptr};  // the batch helpers may join, or null
    std::atomic<std::uint64_t> generation_{0}; // so a helper joins each batch at most once
    std::atomic<std::size_t> busy_{0};        // helpers inside the current batch
    std::size_t started_ = 0;
    bool waiting_ = false;                     // the JS thread sleeps on idle_ (under mutex_)
    std::mutex submit_;                        // one batch at a time (several JS threads may load the addon)

    /// Spin until `ready()` or `ns` have passed; true if ready.
    template <typename ready_at> static bool spin(ready_at&& ready, std::int64_t ns) {
        auto until = std::chrono::steady_clock::now() + std::chrono::nanoseconds(ns);
        for (unsigned i = 0;; ++i) {
            if (ready())
                return true;
#if defined(ASTRONAUT_X86)
            _mm_pause();
#endif
            if ((i & 63) == 63 && std::chrono::steady_clock::now() >= until)
                return ready();
        }
    }

    void loop() {
        std::uint64_t seen = 0;
        for (;;) {
            // No spinning between batches: measured, a helper spinning 50-200 us for the next
            // batch took CPU the event loop and the clients needed and gained nothing.
            auto fresh = [&] { return generation_.load() != seen && work_.load() != nullptr; };
            {
                std::unique_lock<std::mutex> lock(mutex_);
                wake_.wait(lock, fresh);
            }
            seen = generation_.load();
            busy_.fetch_add(1); // before reading work_: the JS thread clears work_, then waits for busy_ == 0
            TeamWork* work = work_.load();
            std::size_t context = 0;
            if (work && work->pool && work->pool->try_acquire(context)) {
                work->run_here(context);
                work->pool->release(context);
            }
            if (busy_.fetch_sub(1) == 1) {
                std::lock_guard<std::mutex> lock(mutex_);
                if (waiting_)
                    idle_.notify_all();
            }
        }
    }

  public:
    static SearchTeam& instance() {
        static SearchTeam* team = new SearchTeam(); // never destroyed: helpers outlive static destructors
        return *team;
    }

    /// Runs `work` here (context 0) and on up to `helpers` helper threads; returns when all are done.
    void run(TeamWork& work, std::size_t helpers) {
        std::unique_lock<std::mutex> solo(submit_, std::try_to_lock);
        if (!solo.owns_lock() || helpers == 0 || !work.pool) {
            work.run_here(0);
            return;
        }
        {
            std::lock_guard<std::mutex> lock(mutex_);
            try {
                for (; started_ < helpers; ++started_)
                    std::thread(&SearchTeam::loop, this).detach();
            } catch (...) {
                // No thread to be had: the ones started (maybe none) do the work.
            }
            work_.store(&work);
            generation_.fetch_add(1);
        }
        wake_.notify_all();
        work.run_here(0);
        work_.store(nullptr);
        // At most one walk per helper is left (~0.1-1 ms): spin for it, then sleep.
        if (spin([&] { return busy_.load() == 0; }, 200000))
            return;
        std::unique_lock<std::mutex> lock(mutex_);
        waiting_ = true;
        idle_.wait(lock, [&] { return busy_.load() == 0; });
        waiting_ = false;
    }
};

class Index;

/// Finalizer of the Buffers serialize() hands out: a graph's serialization is hundreds of MB
/// (600 MB at 1 M x 128), and returning that to the system (munmap of every page) took tens of
/// ms on the JS thread, in the middle of a GC, stalling a primary at the end of a full sync.
/// Small ones are freed at once; large ones by a short-lived thread of their own.
///
/// That thread first gives the pages back in steps (`release_pages`, arena_release.hpp) and
/// only then frees: a single munmap of 600 MB held the address-space lock for writing for
/// 37 ms, and a BGSAVE command parked 20 ms in malloc meanwhile (perf at 1 M x 128).
void release_and_free(char* bytes, std::size_t length) {
    astronaut::release_pages(bytes, length); // whole pages inside the block: malloc's bookkeeping sits outside
    std::free(bytes);
}

/// Runs `release` on a short-lived thread of its own, or here if no thread can be had. The
/// callable is copied into the thread, so on failure this copy is still whole.
template <typename release_at> void release_off_thread(release_at const& release) noexcept {
    try {
        std::thread(release).detach();
    } catch (...) {
        release();
    }
}

void free_off_thread(char* bytes, std::size_t length) {
    if (length < astronaut::release_in_steps_from)
        std::free(bytes);
    else
        release_off_thread([bytes, length] { release_and_free(bytes, length); });
}

/// A serialization kept in native memory (serializeHeld): V8 never sees it as an ArrayBuffer.
/// Why: handed to V8 as a Buffer, the 600 MB of a 1 M x 128 graph counted as external memory,
/// and V8 answered with "external memory pressure" collections (scavenge and mark-compact,
/// 4-10 ms each) in the middle of the BGSAVE that was writing it. The snapshot writer copies it
/// out a piece at a time into one reused buffer instead (heldRead).
struct Held {
    char* data = nullptr;
    std::size_t length = 0;
    void release() {
        if (data)
            free_off_thread(data, length);
        data = nullptr;
        length = 0;
    }
};

/// Hands a malloc'd serialization to JS: as a handle on native memory (`held`), or as a Buffer
/// (NewOrCopy: copied and freed at once where external buffers are not allowed).
Napi::Value hand_over(Napi::Env env, char* data, std::size_t length, bool held) {
    if (!held)
        return Napi::Buffer<char>::NewOrCopy(env, data, length,
                                             [length](Napi::Env, char* bytes) { free_off_thread(bytes, length); });
    auto h = new Held();
    h->data = data;
    h->length = length;
    return Napi::External<Held>::New(env, h, [](Napi::Env, Held* handle) {
        handle->release();
        delete handle;
    });
}

// ---------------------------------------------------------------------------------------------
// Async jobs: one promise, split over one or more AsyncWorkers ("chunks") on the libuv pool.

/// Shared by the chunks of one batch. Created and finished on the JS thread; `body` runs on pool
/// threads. The references keep the JS index object and every typed array the workers read or
/// write alive (not collected) until the last chunk completes.
struct Job : FirstError {
    Index* index = nullptr; // null for index-free jobs (CRC)
    bool mutates = false;   // counted as a writer (add batches, loads)
    bool serializes = false;
    /// Runs at BACKGROUND_NICE on a thread of its own (see ChunkWorker::Execute).
    bool background = false;
    bool promotes = false;
    bool needs_context = false;
    Napi::Promise::Deferred deferred;
    Napi::ObjectReference self;
    std::vector<Napi::ObjectReference> keep;
    std::size_t chunks_left = 0;    // JS thread only
    std::atomic<std::size_t> next{0}; // work-stealing cursor shared by the chunks
    std::function<void(std::size_t context)> body;
    std::function<Napi::Value(Napi::Env)> result; // builds the resolved value on the JS thread

    explicit Job(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}

    void hold(Napi::Value value) {
        if (value.IsObject())
            keep.push_back(Napi::Persistent(value.As<Napi::Object>()));
    }
    void chunk_done(Napi::Env env);
};

class ChunkWorker : public Napi::AsyncWorker {
    std::shared_ptr<Job> job_;

  public:
    ChunkWorker(Napi::Env env, std::shared_ptr<Job> job)
        : Napi::AsyncWorker(env, "astronaut.usearch"), job_(std::move(job)) {}
    void Execute() override;
    void OnOK() override { job_->chunk_done(Env()); }
    void OnError(Napi::Error const& e) override {
        job_->fail(e.Message());
        job_->chunk_done(Env());
    }
};

/// Query-time filter: bit `slot` of a little-endian bitmap (byte slot>>3, bit slot&7), read by
/// usearch for every candidate it considers. Slots past the bitmap are not allowed.
struct BitmapFilter {
    std::uint8_t const* bits;
    std::size_t count; // in bits
    bool operator()(vkey_t key) const noexcept {
        std::uint64_t slot = key_to_slot(key);
        return slot < count && ((bits[slot >> 3] >> (slot & 7)) & 1u);
    }
};

// ---------------------------------------------------------------------------------------------
// The index

class Index : public Napi::ObjectWrap<Index> {
  public:
    static Napi::Object Init(Napi::Env env, Napi::Object exports);
    explicit Index(Napi::CallbackInfo const& info);

    /// The graph, or null while the set is small enough to be kept flat (`flat_`): exactly one
    /// of the two is set until `free()`.
    std::unique_ptr<dense_t> native_;
    std::unique_ptr<astronaut::FlatStore> flat_;
    /// A flat index promotes itself to a graph when asked for more capacity than this, or for
    /// worker contexts, or for its links.
    std::size_t flat_max_ = 0;
    std::size_t flat_capacity_ = 0;
    std::size_t expansion_add_ = 0;
    /// usearch's own distance kernel and storage casts: a flat index measures and reads back
    /// exactly as the graph it becomes.
    metric_punned_t metric_fn_;
    /// Storage -> f32, the one cast read back here (usearch's whole cast table is 176 bytes per index).
    cast_punned_t to_f32_ = nullptr;
    std::size_t dims_ = 0;
    std::size_t bytes_per_vector_ = 0;
    std::size_t contexts_ = 1; // 1 (JS thread) + async worker contexts
    /// Worker contexts added by the first `reserve(…, workers)`. usearch keeps ~35 KB per
    /// context (candidate buffers, lock stripes), and a set of a few elements never leaves the
    /// JS thread: it gets them only once it grows (a one-element set cost 160 KB with five).
    std::size_t worker_contexts_ = 1;
    metric_kind_t metric_ = metric_kind_t::unknown_k;
    scalar_kind_t scalar_ = scalar_kind_t::unknown_k;
    std::size_t connectivity_ = 0;
    /// Made with the first worker contexts: an index without them never runs a job that leases
    /// one (`require_workers`), and a pool's mutex and condition variable cost ~100 bytes per set.
    /// Kept once made, so a job still running never finds it gone.
    std::unique_ptr<ContextPool> pool_;
    std::size_t in_flight_ = 0;  // JS thread only: async jobs not yet completed
    std::size_t writers_ = 0;    // of which mutate the index
    bool serializing_ = false;   // a serialize job is running
    bool promoting_ = false;     // a promote job is building the graph from the flat store
    /// `free()` was called: every later call throws. The memory itself goes once the last
    /// in-flight job completes (its workers still read it), see `release_native`.
    bool closed_ = false;
    /// Read by running jobs between items, so freeing an index cuts a long batch short.
    std::atomic<bool> cancelled_{false};

    ~Index() override { unregister(); }

    void check_open(Napi::Env env) const {
        if (closed_)
            throw Napi::Error::New(env, "this index was freed: it can no longer be used");
    }
    void check_cancelled() const {
        if (cancelled_.load(std::memory_order_relaxed))
            throw std::runtime_error("the index was freed while this job ran");
    }

    /// Indexes whose native memory is still held, per JS thread (construction, `free` and
    /// finalisation all run on the owning thread), for `nativeMemory()`.
    static std::vector<Index*>& registry() {
        static thread_local std::vector<Index*> live;
        return live;
    }
    void unregister() {
        auto& live = registry();
        live.erase(std::remove(live.begin(), live.end(), this), live.end());
    }
    /// Returns the graph, vectors and contexts to the system now, instead of whenever the
    /// garbage collector happens to finalise the JS object (a deleted 1 GB set stayed mapped).
    /// A large graph is destroyed on a thread of its own: freeing 1 M x 128 (~750 MB of arenas)
    /// held the event loop 49 ms at DEL (its arenas go back in steps, arena_release.hpp).
    /// Nothing else refers to it once `native_` is empty, and `unregister` drops it from the
    /// accounting at once; its RSS follows within tens of ms.
    void release_native() {
        unregister();
        flat_.reset();
        if (!native_)
            return;
        auto m = native_->memory_stats();
        if (m.graph_allocated + m.vectors_allocated < astronaut::release_in_steps_from) {
            native_.reset();
            return;
        }
        dense_t* doomed = native_.release();
        release_off_thread([doomed] { delete doomed; });
    }

    bool holds_memory() const noexcept { return native_ || flat_; }

    astronaut::FlatShape flat_shape() const noexcept {
        return {static_cast<std::uint32_t>(dims_), static_cast<std::uint32_t>(connectivity_),
                static_cast<std::uint8_t>(metric_), static_cast<std::uint8_t>(scalar_), bytes_per_vector_, flat_max_};
    }

    std::unique_ptr<dense_t> make_dense(std::size_t capacity, std::size_t contexts) const {
        // expansion_search 1: see the file comment (per-query EF through `wanted`).
        index_dense_config_t config(connectivity_, expansion_add_, 1);
        auto made = dense_t::make(metric_fn_, config, default_free_value<vkey_t>(), index_limits_t(0, contexts));
        if (!made)
            throw std::runtime_error(take_error(made.error));
        auto index = std::make_unique<dense_t>(std::move(made.index));
        if (capacity && !index->try_reserve(index_limits_t(capacity, contexts)))
            throw std::runtime_error("reserve failed: out of memory");
        return index;
    }

    /// Thread contexts for the JS thread plus `workers` pool threads.
    void set_contexts(std::size_t contexts) {
        contexts_ = contexts;
        if (contexts_ > 1 && !pool_)
            pool_ = std::make_unique<ContextPool>();
        if (pool_)
            pool_->reset(1, contexts_ - 1);
    }

    /// Where a vector converted to the storage type is written before usearch or the flat store
    /// reads it: one buffer per thread, not per index and context. Each thread converts one vector
    /// at a time (a job's chunk runs its items in turn; the JS thread, one call), and the callee
    /// copies it or is done with it before the next conversion. Per index it cost a vector's bytes
    /// times its contexts: 3 KB for a one-element set of 1 536-d f16 vectors.
    std::uint8_t* scratch() const {
        thread_local std::vector<std::uint8_t> buffer;
        if (buffer.size() < bytes_per_vector_)
            buffer.resize(bytes_per_vector_);
        return buffer.data();
    }

    /// Call `fn` with a stored vector typed as usearch's add() expects for the storage scalar.
    template <typename fn_at> auto with_stored(std::uint8_t const* v, fn_at&& fn) const {
        switch (scalar_) {
        case scalar_kind_t::b1x8_k: return fn(reinterpret_cast<b1x8_t const*>(v));
        case scalar_kind_t::i8_k: return fn(reinterpret_cast<std::int8_t const*>(v));
        case scalar_kind_t::f16_k: return fn(reinterpret_cast<f16_t const*>(v));
        case scalar_kind_t::bf16_k: return fn(reinterpret_cast<bf16_t const*>(v));
        default: return fn(reinterpret_cast<float const*>(v));
        }
    }

    /// Flat -> graph: the stored vectors are inserted, in storage form, into a fresh usearch
    /// index on the JS thread (at most flat_max_ of them: a few milliseconds). No job may be in
    /// flight (they read the flat arrays).
    void promote(std::size_t capacity, std::size_t contexts) {
        install_dense(build_dense(capacity, contexts), contexts);
    }

    /// The graph of the flat vectors, built without touching this index (so on any thread, as
    /// long as nothing mutates the flat store meanwhile). Its context 0 is free: nobody else
    /// sees it until `install_dense`.
    std::unique_ptr<dense_t> build_dense(std::size_t capacity, std::size_t contexts) const {
        auto dense = make_dense(std::max({capacity, flat_capacity_, flat_->size()}), contexts);
        for (std::size_t i = 0; i < flat_->size(); ++i) {
            vkey_t key = slot_to_key(flat_->slot_at(i));
            dense_t::add_result_t result = with_stored(flat_->vector_at(i), [&](auto const* v) { return dense->add(key, v, 0); });
            if (!result)
                throw std::runtime_error(take_error(result.error));
        }
        return dense;
    }

    void install_dense(std::unique_ptr<dense_t> dense, std::size_t contexts) {
        native_ = std::move(dense);
        flat_.reset();
        flat_capacity_ = 0;
        set_contexts(contexts);
    }

    bool contains_slot(std::uint32_t slot) const {
        return flat_ ? flat_->find(slot) >= 0 : native_->contains(slot_to_key(slot));
    }

    /// The stored vector of `slot` as f32 (usearch's storage -> f32 cast), false if absent.
    bool get_into(std::uint32_t slot, float* out) const {
        if (!flat_)
            return native_->get(slot_to_key(slot), out) > 0;
        std::ptrdiff_t i = flat_->find(slot);
        if (i < 0)
            return false;
        auto const* stored = reinterpret_cast<byte_t const*>(flat_->vector_at(std::size_t(i)));
        if (!to_f32_(stored, dims_, reinterpret_cast<byte_t*>(out)))
            std::memcpy(out, stored, bytes_per_vector_);
        return true;
    }

    std::shared_ptr<Job> new_job(Napi::Env env, bool mutates, bool needs_context) {
        auto job = std::make_shared<Job>(env);
        job->index = this;
        job->mutates = mutates;
        job->needs_context = needs_context;
        job->self = Napi::Persistent(Value());
        return job;
    }
    static Napi::Value start(Napi::Env env, std::shared_ptr<Job> const& job, std::size_t chunks) {
        chunks = std::max<std::size_t>(1, chunks);
        job->chunks_left = chunks;
        if (job->index) {
            job->index->in_flight_++;
            job->index->writers_ += job->mutates;
            if (job->serializes)
                job->index->serializing_ = true;
        }
        for (std::size_t i = 0; i < chunks; ++i)
            (new ChunkWorker(env, job))->Queue();
        return job->deferred.Promise();
    }

    void refuse_if_serializing(Napi::Env env) const {
        if (serializing_)
            throw Napi::Error::New(env, "index is being serialized: mutations are refused until it completes");
        if (promoting_)
            throw Napi::Error::New(env, "index is being promoted to a graph: mutations are refused until it completes");
    }

    /// For b1, packs floats into bits (x > 0 -> 1, most significant bit first, as usearch does)
    /// with the tail of the last byte zeroed; usearch's own f32->b1 cast leaves that tail stale.
    b1x8_t const* pack_bits(float const* v, std::size_t) {
        std::uint8_t* out = scratch();
        std::memset(out, 0, bytes_per_vector_);
        for (std::size_t i = 0; i < dims_; ++i)
            if (v[i] > 0)
                out[i >> 3] |= static_cast<std::uint8_t>(128u >> (i & 7));
        return reinterpret_cast<b1x8_t const*>(out);
    }

    /// i8: round(x * 127) with x clamped to [-1, 1]. The caller scales each vector into that
    /// range (for cosine, by its largest |component|, as Redis 8's Q8 does). usearch's own
    /// f32->i8 cast divides by the L2 norm and truncates instead, which leaves ~11 levels per
    /// component on 128-d data and cost 0.1 of recall here.
    std::int8_t const* quantize_i8(float const* v, std::size_t) {
        auto* out = reinterpret_cast<std::int8_t*>(scratch());
        for (std::size_t i = 0; i < dims_; ++i) {
            float x = std::min(1.0f, std::max(-1.0f, v[i]));
            out[i] = static_cast<std::int8_t>(std::lround(x * 127.0f));
        }
        return out;
    }

    template <typename half_at> half_at const* to_half(float const* v, std::size_t) {
        auto* out = reinterpret_cast<half_at*>(scratch());
        for (std::size_t i = 0; i < dims_; ++i)
            out[i] = half_at(v[i]);
        return out;
    }

    /// Hand usearch a vector already in the storage type. Besides the i8 rule above, this is
    /// what makes `distance_between` right: usearch 2.26 converts its query argument with the
    /// storage->query cast (`casts_.to`), which is only a no-op when both types agree.
    template <typename fn_at> auto with_storage(float const* v, std::size_t context, fn_at&& fn) {
        switch (scalar_) {
        case scalar_kind_t::b1x8_k: return fn(pack_bits(v, context));
        case scalar_kind_t::i8_k: return fn(quantize_i8(v, context));
        case scalar_kind_t::f16_k: return fn(to_half<f16_t>(v, context));
        case scalar_kind_t::bf16_k: return fn(to_half<bf16_t>(v, context));
        default: return fn(v);
        }
    }

    void add_one(std::uint32_t slot, float const* vector, std::size_t context) {
        if (flat_) {
            with_storage(vector, context, [&](auto const* v) { flat_->add(slot, v); });
            return;
        }
        vkey_t key = slot_to_key(slot);
        dense_t::add_result_t result = with_storage(vector, context, [&](auto const* v) { return native_->add(key, v, context); });
        if (!result)
            throw std::runtime_error(take_error(result.error));
    }

    /// NumKong's angular kernel returns 1 when exactly one side is all-zero but 0 when both are
    /// (never NaN). Cosine to a zero vector is undefined; we report 1 ("unrelated") in every case,
    /// so a zero query gets distance 1 to everything. (The VEC commands refuse zero vectors for
    /// COSINE anyway; this keeps the engine total.)
    bool zero_cosine_query(float const* query) const noexcept {
        if (metric_ != metric_kind_t::cos_k)
            return false;
        for (std::size_t i = 0; i < dims_; ++i)
            if (query[i] != 0.0f)
                return false;
        return true;
    }

    /// One k-NN query into caller buffers; returns how many results were written.
    std::size_t search_one(float const* query, std::size_t k, std::size_t ef, BitmapFilter const* filter, bool exact,
                           std::size_t context, std::uint32_t* out_slots, float* out_distances,
                           std::uint32_t* out_visited) {
        if (flat_)
            return flat_search(query, k, filter, context, out_slots, out_distances, out_visited);
        // A beam wider than the graph buys nothing but memory: cap ef at the node count.
        std::size_t nodes = std::max<std::size_t>(1, get_slot(native_->cend()));
        std::size_t wanted = exact ? k : std::max(k, std::min(ef, nodes));
        auto run = [&](auto const* vector) {
            return filter ? native_->filtered_search(vector, wanted, *filter, context, exact)
                          : native_->search(vector, wanted, context, exact);
        };
        dense_t::search_result_t result = with_storage(query, context, run);
        if (!result)
            throw std::runtime_error(take_error(result.error));
        vkey_t const free_key = native_->free_key();
        std::size_t written = 0;
        for (std::size_t i = 0; i < result.count && written < k; ++i) {
            auto match = result[i];
            vkey_t key = match.member.key;
            std::uint64_t slot = key_to_slot(key);
            // A node removed while this query ran carries the free key: skip it.
            if (key == free_key || slot > 0xFFFFFFFFull)
                continue;
            out_slots[written] = static_cast<std::uint32_t>(slot);
            out_distances[written] = match.distance;
            ++written;
        }
        if (out_visited)
            *out_visited = static_cast<std::uint32_t>(std::min<std::size_t>(result.visited_members, UINT32_MAX));
        if (zero_cosine_query(query))
            std::fill_n(out_distances, written, 1.0f);
        return written;
    }

    /// search_one for a flat index: every stored vector measured, nearest k kept, ties by slot.
    std::size_t flat_search(float const* query, std::size_t k, BitmapFilter const* filter, std::size_t context,
                            std::uint32_t* out_slots, float* out_distances, std::uint32_t* out_visited) {
        std::vector<std::pair<float, std::uint32_t>> scored;
        scored.reserve(flat_->size());
        with_storage(query, context, [&](auto const* v) {
            auto const* q = reinterpret_cast<byte_t const*>(v);
            for (std::size_t i = 0; i < flat_->size(); ++i) {
                std::uint32_t slot = flat_->slot_at(i);
                if (filter && !(*filter)(slot_to_key(slot)))
                    continue;
                // (query, stored), as usearch's own searches measure: not every kernel is bit-symmetric (f16).
                scored.emplace_back(float(metric_fn_(q, reinterpret_cast<byte_t const*>(flat_->vector_at(i)))), slot);
            }
            return 0;
        });
        std::size_t take = std::min(k, scored.size());
        std::partial_sort(scored.begin(), scored.begin() + take, scored.end());
        bool zero = zero_cosine_query(query);
        for (std::size_t i = 0; i < take; ++i) {
            out_slots[i] = scored[i].second;
            out_distances[i] = zero ? 1.0f : scored[i].first;
        }
        if (out_visited)
            *out_visited = static_cast<std::uint32_t>(flat_->size());
        return take;
    }

    /// Exact distances from the query to the listed slots only (absent slots skipped, repeated
    /// ones reported once), top k.
    std::size_t subset_one(float const* query, std::uint32_t const* slots, std::size_t n, std::size_t k,
                           std::size_t context, std::uint32_t* out_slots, float* out_distances) {
        std::vector<std::pair<float, std::uint32_t>> scored;
        scored.reserve(n);
        auto measure = [&](auto const* vector) {
            if (flat_) {
                auto const* q = reinterpret_cast<byte_t const*>(vector);
                for (std::size_t i = 0; i < n; ++i) {
                    std::ptrdiff_t at = flat_->find(slots[i]);
                    if (at >= 0)
                        // (stored, query), as usearch's distance_between measures.
                        scored.emplace_back(float(metric_fn_(reinterpret_cast<byte_t const*>(flat_->vector_at(std::size_t(at))), q)), slots[i]);
                }
                return;
            }
            for (std::size_t i = 0; i < n; ++i) {
                auto d = native_->distance_between(slot_to_key(slots[i]), vector, context);
                if (d.count)
                    scored.emplace_back(d.min, slots[i]);
            }
        };
        with_storage(query, context, measure);
        // Order by (distance, slot); a slot listed twice yields two equal pairs, which sort next
        // to each other and are written once. Widen the sorted prefix until k distinct fit.
        std::size_t take = std::min(k, scored.size()), written = 0;
        for (;;) {
            std::partial_sort(scored.begin(), scored.begin() + take, scored.end());
            written = 0;
            for (std::size_t i = 0; i < take && written < k; ++i)
                if (i == 0 || scored[i].second != scored[i - 1].second)
                    ++written;
            if (written >= k || take == scored.size())
                break;
            take = std::min(scored.size(), take * 2);
        }
        bool zero = zero_cosine_query(query);
        written = 0;
        for (std::size_t i = 0; i < take && written < k; ++i) {
            if (i && scored[i].second == scored[i - 1].second)
                continue;
            out_slots[written] = scored[i].second;
            out_distances[written] = zero ? 1.0f : scored[i].first;
            ++written;
        }
        return written;
    }

    // JS methods (argument checks are in native-index.ts)
    Napi::Value Size(Napi::CallbackInfo const& info) {
        check_open(info.Env());
        return Napi::Number::New(info.Env(), double(flat_ ? flat_->size() : native_->size()));
    }
    Napi::Value Capacity(Napi::CallbackInfo const& info) {
        check_open(info.Env());
        return Napi::Number::New(info.Env(), double(flat_ ? flat_capacity_ : native_->capacity()));
    }
    Napi::Value Nodes(Napi::CallbackInfo const& info) { // live + removed (tombstoned) nodes
        check_open(info.Env());
        return Napi::Number::New(info.Env(), double(flat_ ? flat_->size() : get_slot(native_->cend())));
    }
    Napi::Value IsFlat(Napi::CallbackInfo const& info) {
        check_open(info.Env());
        return Napi::Boolean::New(info.Env(), flat_ != nullptr);
    }
    /// A flat index reports its arrays as the vectors tape: allocated = capacity, reserved = the unused part.
    dense_t::memory_stats_t memory_stats() const {
        if (!flat_)
            return native_->memory_stats();
        dense_t::memory_stats_t m{};
        m.vectors_allocated = flat_->allocated_bytes();
        m.vectors_reserved = flat_->allocated_bytes() - flat_->used_bytes();
        return m;
    }
    /// usearch's per-tape figures: `allocated` counts whole mmap arenas (4 MiB and up, touched
    /// lazily), `wasted` their unusable tails, `reserved` what is left in the current arena.
    Napi::Value MemoryStats(Napi::CallbackInfo const& info) {
        check_open(info.Env());
        Napi::Env env = info.Env();
        auto stats = memory_stats();
        Napi::Object out = Napi::Object::New(env);
        out.Set("graphAllocated", double(stats.graph_allocated));
        out.Set("graphWasted", double(stats.graph_wasted));
        out.Set("graphReserved", double(stats.graph_reserved));
        out.Set("vectorsAllocated", double(stats.vectors_allocated));
        out.Set("vectorsWasted", double(stats.vectors_wasted));
        out.Set("vectorsReserved", double(stats.vectors_reserved));
        return out;
    }
    Napi::Value MaxLevel(Napi::CallbackInfo const& info) {
        check_open(info.Env());
        return Napi::Number::New(info.Env(), double(flat_ ? 0 : native_->max_level()));
    }
    Napi::Value InFlight(Napi::CallbackInfo const& info) { return Napi::Number::New(info.Env(), double(in_flight_)); }
    Napi::Value Isa(Napi::CallbackInfo const& info) {
        check_open(info.Env());
        return Napi::String::New(info.Env(), metric_fn_.isa_name());
    }

    /// reserve(capacity, workers): `workers` adds the worker contexts if the index has none yet.
    void Reserve(Napi::CallbackInfo const& info) {
        check_open(info.Env());
        if (in_flight_)
            throw Napi::Error::New(info.Env(), "reserve refused: " + std::to_string(in_flight_) +
                                                   " async job(s) still running on this index");
        std::size_t capacity = size_arg(info[0]);
        bool add_workers = info.Length() > 1 && info[1].ToBoolean() && contexts_ == 1;
        std::size_t contexts = add_workers ? 1 + worker_contexts_ : contexts_;
        if (flat_) {
            // Flat arrays grow as vectors come: capacity is only a promise of room.
            if (!add_workers && capacity <= flat_max_)
                flat_capacity_ = std::max(flat_capacity_, capacity);
            else
                promote(capacity, contexts);
            return;
        }
        if (!native_->try_reserve(index_limits_t(capacity, contexts)))
            throw Napi::Error::New(info.Env(), "reserve failed: out of memory");
        if (add_workers)
            set_contexts(contexts);
    }

    Napi::Value HasWorkers(Napi::CallbackInfo const& info) {
        return Napi::Boolean::New(info.Env(), contexts_ > 1);
    }

    /// Jobs that run usearch on pool threads lease a worker context: without any they would wait forever.
    void require_workers(Napi::Env env) const {
        if (contexts_ == 1)
            throw Napi::Error::New(env, "this index has no worker contexts yet: reserve with workers first");
    }

    void Add(Napi::CallbackInfo const& info) {
        check_open(info.Env());
        refuse_if_serializing(info.Env());
        add_one(static_cast<std::uint32_t>(size_arg(info[0])), f32_array(info[1], "vector").Data(), 0);
    }

    Napi::Value Remove(Napi::CallbackInfo const& info) {
        check_open(info.Env());
        refuse_if_serializing(info.Env());
        if (flat_)
            return Napi::Boolean::New(info.Env(), flat_->remove(static_cast<std::uint32_t>(size_arg(info[0]))));
        auto result = native_->remove(slot_to_key(size_arg(info[0])));
        if (!result)
            throw Napi::Error::New(info.Env(), take_error(result.error));
        return Napi::Boolean::New(info.Env(), result.completed > 0);
    }

    Napi::Value Contains(Napi::CallbackInfo const& info) {
        check_open(info.Env());
        return Napi::Boolean::New(info.Env(), contains_slot(static_cast<std::uint32_t>(size_arg(info[0]))));
    }

    /// Index of the first slot of the list already present, or -1.
    Napi::Value FirstPresent(Napi::CallbackInfo const& info) {
        check_open(info.Env());
        auto slots = u32_array(info[0], "slots");
        for (std::size_t i = 0; i < slots.ElementLength(); ++i)
            if (contains_slot(slots[i]))
                return Napi::Number::New(info.Env(), double(i));
        return Napi::Number::New(info.Env(), -1);
    }

    Napi::Value Get(Napi::CallbackInfo const& info) {
        check_open(info.Env());
        auto out = f32_array(info[1], "out");
        return Napi::Boolean::New(info.Env(), get_into(static_cast<std::uint32_t>(size_arg(info[0])), out.Data()));
    }

    /// search(query, k, ef, filter|undefined, exact, outSlots, outDistances, outVisited) -> count
    Napi::Value Search(Napi::CallbackInfo const& info) {
        check_open(info.Env());
        auto query = f32_array(info[0], "query");
        std::size_t k = size_arg(info[1]), ef = size_arg(info[2]);
        BitmapFilter filter{};
        bool filtered = !info[3].IsUndefined();
        if (filtered) {
            auto bits = u8_array(info[3], "filter");
            filter = BitmapFilter{bits.Data(), bits.ElementLength() * 8};
        }
        bool exact = info[4].ToBoolean();
        auto out_slots = u32_array(info[5], "outSlots");
        auto out_distances = f32_array(info[6], "outDistances");
        auto out_visited = u32_array(info[7], "outVisited");
        std::size_t n = search_one(query.Data(), k, ef, filtered ? &filter : nullptr, exact, 0, out_slots.Data(),
                                   out_distances.Data(), out_visited.Data());
        return Napi::Number::New(info.Env(), double(n));
    }

    /// searchBatch(queries, n, k, ef, filter|undefined, exact, outSlots, outDistances, outCounts, outVisited, chunks)
    Napi::Value SearchBatch(Napi::CallbackInfo const& info) {
        check_open(info.Env());
        Napi::Env env = info.Env();
        auto queries = f32_array(info[0], "queries");
        std::size_t n = size_arg(info[1]), k = size_arg(info[2]), ef = size_arg(info[3]);
        bool filtered = !info[4].IsUndefined();
        BitmapFilter filter{};
        if (filtered) {
            auto bits = u8_array(info[4], "filter");
            filter = BitmapFilter{bits.Data(), bits.ElementLength() * 8};
        }
        bool exact = info[5].ToBoolean();
        auto out_slots = u32_array(info[6], "outSlots");
        auto out_distances = f32_array(info[7], "outDistances");
        auto out_counts = u32_array(info[8], "outCounts");
        auto out_visited = u32_array(info[9], "outVisited");
        std::size_t chunks = std::min(size_arg(info[10]), n);

        require_workers(env);
        auto job = new_job(env, false, true);
        for (std::size_t i = 0; i < 10; ++i)
            job->hold(info[i]);
        float const* q = queries.Data();
        std::uint32_t* slots = out_slots.Data();
        float* distances = out_distances.Data();
        std::uint32_t* counts = out_counts.Data();
        std::uint32_t* visited = out_visited.Data();
        std::size_t dims = dims_;
        Job* raw = job.get();
        Index* self = this;
        job->body = [=](std::size_t context) {
            for (std::size_t i; (i = raw->next.fetch_add(1)) < n && !raw->failed.load();) {
                self->check_cancelled();
                counts[i] = static_cast<std::uint32_t>(search_one(q + i * dims, k, ef, filtered ? &filter : nullptr,
                                                                  exact, context, slots + i * k, distances + i * k,
                                                                  visited + i));
            }
        };
        return start(env, job, chunks);
    }

    /// searchTeam(queries, n, k, ef, outSlots, outDistances, outCounts, outVisited, helpers): plain
    /// graph searches run now, on this thread and on up to `helpers` team threads.
    void SearchTeamBatch(Napi::CallbackInfo const& info) {
        check_open(info.Env());
        auto queries = f32_array(info[0], "queries");
        std::size_t n = size_arg(info[1]), k = size_arg(info[2]), ef = size_arg(info[3]);
        float const* q = queries.Data();
        std::uint32_t* slots = u32_array(info[4], "outSlots").Data();
        float* distances = f32_array(info[5], "outDistances").Data();
        std::uint32_t* counts = u32_array(info[6], "outCounts").Data();
        std::uint32_t* visited = u32_array(info[7], "outVisited").Data();
        std::size_t helpers = contexts_ > 1 ? std::min(size_arg(info[8]), n - std::min<std::size_t>(n, 1)) : 0;
        std::atomic<std::size_t> next{0};
        TeamWork work;
        work.pool = pool_.get();
        work.run = [&](std::size_t context) {
            for (std::size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < n && !work.failed.load();)
                counts[i] = static_cast<std::uint32_t>(search_one(q + i * dims_, k, ef, nullptr, false, context,
                                                                  slots + i * k, distances + i * k, visited + i));
        };
        SearchTeam::instance().run(work, helpers);
        if (work.failed.load())
            throw Napi::Error::New(info.Env(), work.error);
    }

    /// addBatch(slots, vectors, chunks): slots distinct and absent, capacity reserved (checked in TS).
    Napi::Value AddBatch(Napi::CallbackInfo const& info) {
        check_open(info.Env());
        Napi::Env env = info.Env();
        refuse_if_serializing(env);
        auto slots = u32_array(info[0], "slots");
        auto vectors = f32_array(info[1], "vectors");
        std::size_t n = slots.ElementLength();
        std::size_t chunks = std::min(size_arg(info[2]), n);
        require_workers(env);
        auto job = new_job(env, true, true);
        job->hold(info[0]);
        job->hold(info[1]);
        std::uint32_t const* s = slots.Data();
        float const* v = vectors.Data();
        std::size_t dims = dims_;
        Job* raw = job.get();
        Index* self = this;
        job->body = [=](std::size_t context) {
            for (std::size_t i; (i = raw->next.fetch_add(1)) < n && !raw->failed.load();) {
                self->check_cancelled();
                add_one(s[i], v + i * dims, context);
            }
        };
        return start(env, job, chunks);
    }

    /// searchSubset(query, slots, k, outSlots, outDistances) -> count (sync, JS thread context)
    Napi::Value SearchSubset(Napi::CallbackInfo const& info) {
        check_open(info.Env());
        auto query = f32_array(info[0], "query");
        auto slots = u32_array(info[1], "slots");
        auto out_slots = u32_array(info[3], "outSlots");
        auto out_distances = f32_array(info[4], "outDistances");
        std::size_t n = subset_one(query.Data(), slots.Data(), slots.ElementLength(), size_arg(info[2]), 0,
                                   out_slots.Data(), out_distances.Data());
        return Napi::Number::New(info.Env(), double(n));
    }

    /// searchSubsetAsync(query, slots, k, outSlots, outDistances) -> Promise<count>
    Napi::Value SearchSubsetAsync(Napi::CallbackInfo const& info) {
        check_open(info.Env());
        Napi::Env env = info.Env();
        auto query = f32_array(info[0], "query");
        auto slots = u32_array(info[1], "slots");
        auto out_slots = u32_array(info[3], "outSlots");
        auto out_distances = f32_array(info[4], "outDistances");
        require_workers(env);
        auto job = new_job(env, false, true);
        for (std::size_t i : {0, 1, 3, 4})
            job->hold(info[i]);
        auto count = std::make_shared<std::size_t>(0);
        float const* q = query.Data();
        std::uint32_t const* s = slots.Data();
        std::size_t n = slots.ElementLength(), k = size_arg(info[2]);
        std::uint32_t* os = out_slots.Data();
        float* od = out_distances.Data();
        job->body = [=](std::size_t context) { *count = subset_one(q, s, n, k, context, os, od); };
        job->result = [count](Napi::Env env) { return Napi::Number::New(env, double(*count)); };
        return start(env, job, 1);
    }

    /// promote(capacity) -> Promise<void>: flat -> graph (with worker contexts) built on the pool:
    /// inserting a few hundred vectors of 1 536 dimensions takes ~25 ms, too long for the JS
    /// thread. Reads keep being served from the flat store meanwhile; mutations are refused.
    Napi::Value Promote(Napi::CallbackInfo const& info) {
        check_open(info.Env());
        Napi::Env env = info.Env();
        if (!flat_)
            throw Napi::Error::New(env, "promote refused: the index is already a graph");
        if (in_flight_)
            throw Napi::Error::New(env, "promote refused: " + std::to_string(in_flight_) + " async job(s) still running on this index");
        std::size_t capacity = size_arg(info[0]);
        std::size_t contexts = 1 + worker_contexts_;
        auto job = new_job(env, true, false);
        auto built = std::make_shared<std::unique_ptr<dense_t>>();
        Index* self = this;
        job->body = [=](std::size_t) { *built = self->build_dense(capacity, contexts); };
        job->result = [=](Napi::Env env) {
            if (!self->closed_)
                self->install_dense(std::move(*built), contexts);
            return env.Undefined();
        };
        job->promotes = true;
        promoting_ = true;
        return start(env, job, 1);
    }

    /// links(slot) -> Array<Uint32Array> (top level first) | null. Neighbours that were removed
    /// but are still linked (usearch keeps tombstones in the graph) are left out.
    Napi::Value Links(Napi::CallbackInfo const& info) {
        check_open(info.Env());
        Napi::Env env = info.Env();
        vkey_t key = slot_to_key(size_arg(info[0]));
        if (flat_) {
            // Links exist only in a graph: the set gets one (and keeps it) to answer.
            if (in_flight_)
                throw Napi::Error::New(env, "links refused: async jobs are still running on this index");
            promote(flat_capacity_, contexts_);
        }
        if (!native_->contains(key))
            return env.Null();
        std::size_t top = native_->level_of(key);
        vkey_t const free_key = native_->free_key();
        Napi::Array levels = Napi::Array::New(env, top + 1);
        std::vector<std::uint32_t> buffer;
        for (std::size_t level = top + 1; level-- > 0;) {
            buffer.clear();
            for (auto member : native_->neighbors(key, level)) {
                vkey_t neighbour = member.key;
                std::uint64_t slot = key_to_slot(neighbour);
                if (neighbour != free_key && slot <= 0xFFFFFFFFull)
                    buffer.push_back(static_cast<std::uint32_t>(slot));
            }
            auto out = Napi::Uint32Array::New(env, buffer.size());
            if (!buffer.empty())
                std::memcpy(out.Data(), buffer.data(), buffer.size() * sizeof(std::uint32_t));
            levels.Set(static_cast<std::uint32_t>(top - level), out);
        }
        return levels;
    }

    /// free() -> true if the memory was released now, false if it goes when the in-flight jobs
    /// (cancelled where they can be) complete. Idempotent.
    Napi::Value Free(Napi::CallbackInfo const& info) {
        if (!closed_) {
            closed_ = true;
            cancelled_.store(true);
            if (!in_flight_)
                release_native();
        }
        return Napi::Boolean::New(info.Env(), !holds_memory());
    }

    /// getBatch(slots, out, found, chunks) -> Promise<void>: the stored vectors of many slots as
    /// f32 (row i of `out`), found[i] = 1 when present. A copy of a large index's vectors costs
    /// hundreds of milliseconds, which must not be spent on the JS thread.
    Napi::Value GetBatch(Napi::CallbackInfo const& info) {
        check_open(info.Env());
        Napi::Env env = info.Env();
        auto slots = u32_array(info[0], "slots");
        auto out = f32_array(info[1], "out");
        auto found = u8_array(info[2], "found");
        std::size_t n = slots.ElementLength();
        std::size_t chunks = std::min(size_arg(info[3]), n);
        auto job = new_job(env, false, false);
        for (std::size_t i = 0; i < 3; ++i)
            job->hold(info[i]);
        std::uint32_t const* s = slots.Data();
        float* o = out.Data();
        std::uint8_t* f = found.Data();
        std::size_t dims = dims_;
        Job* raw = job.get();
        Index* self = this;
        job->body = [=](std::size_t) {
            for (std::size_t i; (i = raw->next.fetch_add(1)) < n && !raw->failed.load();) {
                if ((i & 1023) == 0)
                    self->check_cancelled();
                f[i] = self->get_into(s[i], o + i * dims) ? 1 : 0;
            }
        };
        return start(env, job, chunks);
    }

    void refuse_unless_fresh(Napi::Env env) const {
        bool empty = flat_ ? flat_->size() == 0 : native_->size() == 0 && get_slot(native_->cend()) == 0;
        if (in_flight_ || !empty)
            throw Napi::Error::New(env, "load refused: the index is not fresh");
    }

    /// A flat serialisation was loaded: the index becomes flat whatever it was made as (a graph
    /// and worker contexts come back with growth), and its capacity is what it holds.
    void install_flat(std::unique_ptr<astronaut::FlatStore> store) {
        native_.reset();
        flat_capacity_ = store->size();
        flat_ = std::move(store);
        set_contexts(1);
    }

    /// A graph serialisation is about to be loaded into an index that is still flat.
    void ensure_dense() {
        if (!flat_)
            return;
        native_ = make_dense(0, contexts_);
        flat_.reset();
        flat_capacity_ = 0;
    }

    /// Whether a file's byte range starts with a flat store's magic (one small read).
    static bool file_holds_flat(std::string const& path, std::int64_t offset, std::size_t length) {
        if (length < sizeof(astronaut::flat_magic))
            return false;
        SectionFile file(path); // not opened or short: the load itself reports why
        std::uint8_t head[sizeof(astronaut::flat_magic)];
        return file.opened() && file.read_at(head, sizeof(head), offset) &&
               astronaut::is_flat_serialization(head, sizeof(head));
    }

    /// loadFile for a flat store: the range is read and checksummed on the pool, parsed there,
    /// and installed on the JS thread when the job completes.
    Napi::Value load_flat_file(Napi::Env env, std::string const& path, std::int64_t offset, std::size_t length,
                               std::uint32_t expected) {
        auto job = new_job(env, true, false);
        auto parsed = std::make_shared<std::unique_ptr<astronaut::FlatStore>>();
        astronaut::FlatShape shape = flat_shape();
        Index* self = this;
        job->body = [=](std::size_t) {
            std::vector<std::uint8_t> bytes(length);
            read_range(path, offset, bytes.data(), length, expected);
            *parsed = astronaut::FlatStore::parse(bytes.data(), length, shape);
        };
        job->result = [=](Napi::Env env) {
            self->install_flat(std::move(*parsed));
            return env.Undefined();
        };
        return start(env, job, 1);
    }

    /// Reads `length` bytes at `offset` of `path` whose crc32c must be `expected`.
    static void read_range(std::string const& path, std::int64_t offset, std::uint8_t* out, std::size_t length,
                           std::uint32_t expected) {
        SectionFile file(path);
        file.require(path);
        if (!file.read_at(out, length, offset))
            throw std::runtime_error("file " + path + " ends inside the section");
        if (crc32c(0, out, length) != expected)
            throw std::runtime_error("section checksum mismatch");
    }

    /// serialize() -> Promise<Buffer>: usearch's own format (vectors, header, graph) in one buffer.
    Napi::Value Serialize(Napi::CallbackInfo const& info) { return serialize(info, false); }

    /// serializeHeld() -> Promise<External>: the same bytes, kept in native memory (Held): read
    /// with heldRead, released with heldFree (or when the handle is collected).
    Napi::Value SerializeHeld(Napi::CallbackInfo const& info) { return serialize(info, true); }

    Napi::Value serialize(Napi::CallbackInfo const& info, bool held) {
        check_open(info.Env());
        Napi::Env env = info.Env();
        if (writers_)
            throw Napi::Error::New(env, "serialize refused: a batch insert is still running on this index");
        if (serializing_)
            throw Napi::Error::New(env, "serialize refused: a serialization is already running");
        if (flat_) {
            // A few KB at most: written here rather than on the pool.
            std::size_t length = flat_->serialized_length();
            auto data = static_cast<char*>(std::malloc(std::max<std::size_t>(length, 1)));
            if (!data)
                throw Napi::Error::New(env, "out of memory serializing a flat index");
            flat_->serialize(flat_shape(), reinterpret_cast<std::uint8_t*>(data));
            auto done = Napi::Promise::Deferred::New(env);
            done.Resolve(hand_over(env, data, length, held));
            return done.Promise();
        }
        auto job = new_job(env, false, false);
        job->serializes = true;
        job->background = true;
        struct Output {
            char* data = nullptr;
            std::size_t length = 0;
            ~Output() { std::free(data); }
        };
        auto output = std::make_shared<Output>();
        dense_t* index = native_.get();
        job->body = [=](std::size_t) {
            std::size_t length = index->serialized_length();
            output->data = static_cast<char*>(std::malloc(std::max<std::size_t>(length, 1)));
            if (!output->data)
                throw std::bad_alloc();
            std::size_t written = 0;
            auto result = index->save_to_stream([&](void const* bytes, std::size_t n) {
                if (written + n > length)
                    return false;
                std::memcpy(output->data + written, bytes, n);
                written += n;
                return true;
            });
            if (!result)
                throw std::runtime_error(take_error(result.error));
            output->length = written;
        };
        job->result = [output, held](Napi::Env env) -> Napi::Value {
            char* data = output->data;
            output->data = nullptr; // ownership moves to the Buffer or handle (or is freed after a copy)
            return hand_over(env, data, output->length, held);
        };
        return start(env, job, 1);
    }

    /// load(buffer) -> Promise<void>: fills this fresh, empty index from serialize()'s bytes.
    Napi::Value Load(Napi::CallbackInfo const& info) {
        check_open(info.Env());
        Napi::Env env = info.Env();
        refuse_unless_fresh(env);
        auto bytes = u8_array(info[0], "buffer");
        if (astronaut::is_flat_serialization(bytes.Data(), bytes.ElementLength())) {
            auto done = Napi::Promise::Deferred::New(env);
            try {
                install_flat(astronaut::FlatStore::parse(bytes.Data(), bytes.ElementLength(), flat_shape()));
                done.Resolve(env.Undefined());
            } catch (std::exception const& e) {
                done.Reject(Napi::Error::New(env, e.what()).Value());
            }
            return done.Promise();
        }
        ensure_dense();
        auto job = new_job(env, true, false);
        job->hold(info[0]);
        std::uint8_t const* data = bytes.Data();
        std::size_t length = bytes.ElementLength();
        dense_t* index = native_.get();
        std::size_t dims = dims_, connectivity = connectivity_;
        metric_kind_t metric = metric_;
        scalar_kind_t scalar = scalar_;
        job->body = [=](std::size_t) {
            std::size_t offset = 0;
            auto result = index->load_from_stream([&](void* out, std::size_t n) {
                if (n > length - offset)
                    return false;
                std::memcpy(out, data + offset, n);
                offset += n;
                return true;
            });
            if (!result)
                throw std::runtime_error("usearch could not load the buffer: " + take_error(result.error));
            if (offset != length)
                throw std::runtime_error("buffer has " + std::to_string(length - offset) + " trailing bytes");
            if (index->dimensions() != dims || index->metric_kind() != metric || index->scalar_kind() != scalar ||
                index->connectivity() != connectivity)
                throw std::runtime_error("serialized index has other dimensions, metric, scalar or connectivity");
        };
        return start(env, job, 1);
    }

    /// loadFile(path, offset, length, crc) -> Promise<void>: like load(), straight from a file's
    /// byte range (a snapshot section), checksummed (crc32c) as it is read. Why: the graph is most
    /// of a snapshot; read into a JS Buffer first it cost a fresh 100+ MB mapping (page faults),
    /// a copy and a second pass for the checksum. Rejects on a short file or a checksum mismatch;
    /// the index is then unusable.
    Napi::Value LoadFile(Napi::CallbackInfo const& info) {
        check_open(info.Env());
        Napi::Env env = info.Env();
        refuse_unless_fresh(env);
        std::string path = info[0].As<Napi::String>().Utf8Value();
        auto offset = static_cast<std::int64_t>(info[1].As<Napi::Number>().Int64Value());
        auto length = static_cast<std::size_t>(info[2].As<Napi::Number>().Int64Value());
        auto expected = static_cast<std::uint32_t>(info[3].As<Napi::Number>().Uint32Value());
        if (file_holds_flat(path, offset, length))
            return load_flat_file(env, path, offset, length, expected);
        ensure_dense();
        auto job = new_job(env, true, false);
        dense_t* index = native_.get();
        std::size_t dims = dims_, connectivity = connectivity_, bytes_per_vector = bytes_per_vector_;
        metric_kind_t metric = metric_;
        scalar_kind_t scalar = scalar_;
        job->body = [=](std::size_t) {
            SectionFile file(path);
            file.require(path);
            check_dense_layout(file, offset, length, bytes_per_vector, connectivity);
            // The reads and the CRC run ahead on a thread of their own while usearch parses, and
            // for a large section another faults in the pages usearch is about to copy into.
            ReadAhead ahead(file, offset, length);
            std::unique_ptr<astronaut::ArenaPrefault> prefault;
            if (length >= prefault_from_k)
                prefault.reset(new astronaut::ArenaPrefault());
            std::uint8_t const* window = nullptr;
            // [at, filled) of the current window is not yet handed to usearch.
            std::size_t filled = 0, at = 0, consumed = 0, next = 0;
            bool short_read = false;
            auto result = index->load_from_stream([&](void* out, std::size_t n) {
                auto* dst = static_cast<std::uint8_t*>(out);
                if (!dst && n == 0)
                    return false; // usearch could not allocate a node: stop rather than keep a null one
                if (prefault)
                    prefault->writing(dst, n);
                while (n > 0) {
                    if (at == filled) {
                        if (consumed >= length)
                            return false;
                        auto got = ahead.window(next++);
                        if (!got.first) {
                            short_read = true;
                            return false;
                        }
                        window = got.first;
                        filled = got.second;
                        at = 0;
                    }
                    std::size_t take = (std::min)(n, filled - at);
                    std::memcpy(dst, window + at, take);
                    dst += take;
                    at += take;
                    n -= take;
                    consumed += take;
                }
                return true;
            });
            // The reader may be ahead of usearch: its CRC is the section's only if usearch
            // consumed the section exactly (checked below, before the CRC).
            std::uint32_t crc = ahead.finish();
            if (prefault)
                prefault->finish();
            if (short_read)
                throw std::runtime_error("file " + path + " ends inside the section");
            if (!result)
                throw std::runtime_error("usearch could not load the section: " + take_error(result.error));
            if (consumed != length)
                throw std::runtime_error("section has " + std::to_string(length - consumed) + " trailing bytes");
            if (crc != expected)
                throw std::runtime_error("section checksum mismatch");
            if (index->dimensions() != dims || index->metric_kind() != metric || index->scalar_kind() != scalar ||
                index->connectivity() != connectivity)
                throw std::runtime_error("serialized index has other dimensions, metric, scalar or connectivity");
        };
        return start(env, job, 1);
    }
};

/// The nice value of a background job's thread. A graph's serialization (BGSAVE's cut, a
/// replica's full sync) is ~0.5 s of CPU at 1 M x 128 while the event loop keeps serving; on two
/// cores shared with clients (or a replica) the loop then waited its turn behind it for 10-30 ms.
/// At nice 10 (a tenth of the loop's CFS weight) the loop preempts it when both want a core;
/// with a core free it runs as fast as before. Add batches are not niced: at +5 they cost
/// 251-275 us of CPU per vector against 230-233 and bought the loop no measurable PING
/// latency (docs/threading.md, "Priority").
constexpr int BACKGROUND_NICE = 10;

/// Runs a background job's body on a new thread at BACKGROUND_NICE and waits for it. A thread of
/// its own because nice is per thread on Linux and an unprivileged thread may raise it but never
/// lower it back: a libuv pool thread niced once would serve every later search at that priority.
/// If no thread can be had (or the nice cannot be set), the body runs here at normal priority.
static void run_in_background(Job& job) {
    bool ran = false;
    try {
        std::thread thread([&] {
            ran = true;
            // Relative to the thread's nice as created (the process's): a server started niced stays
            // below its own loop, not at an absolute level that could even be above it.
            auto tid = static_cast<id_t>(syscall(SYS_gettid));
            errno = 0;
            int base = getpriority(PRIO_PROCESS, tid);
            if (errno == 0)
                setpriority(PRIO_PROCESS, tid, std::min(19, base + BACKGROUND_NICE));
            job.guard([&] { job.body(0); });
        });
        thread.join();
    } catch (std::system_error const&) {
        if (!ran)
            job.guard([&] { job.body(0); });
    }
}

void ChunkWorker::Execute() {
    Job& job = *job_;
    if (job.background) {
        run_in_background(job);
        return;
    }
    std::size_t context = 0;
    bool leased = false;
    job.guard([&] {
        if (job.needs_context) {
            context = job.index->pool_->acquire();
            leased = true;
        }
        job.body(context);
    });
    if (leased)
        job.index->pool_->release(context);
}

void Job::chunk_done(Napi::Env env) {
    if (--chunks_left)
        return;
    if (index) {
        index->in_flight_--;
        index->writers_ -= mutates;
        if (serializes)
            index->serializing_ = false;
        if (promotes)
            index->promoting_ = false;
        if (index->closed_ && !index->in_flight_ && index->holds_memory())
            index->release_native();
    }
    if (failed.load()) {
        deferred.Reject(Napi::Error::New(env, error).Value());
        return;
    }
    try {
        deferred.Resolve(result ? result(env) : env.Undefined());
    } catch (Napi::Error const& e) {
        deferred.Reject(e.Value());
    } catch (std::exception const& e) {
        deferred.Reject(Napi::Error::New(env, e.what()).Value());
    }
}

/// new Index(dimensions, metric, scalar, connectivity, expansionAdd, asyncContexts, workers = true)
Index::Index(Napi::CallbackInfo const& info) : Napi::ObjectWrap<Index>(info) {
    Napi::Env env = info.Env();
    dims_ = size_arg(info[0]);
    metric_ = parse_metric(info[1].As<Napi::String>().Utf8Value());
    scalar_ = parse_scalar(info[2].As<Napi::String>().Utf8Value());
    connectivity_ = size_arg(info[3]);
    std::size_t expansion_add = size_arg(info[4]);
    worker_contexts_ = std::max<std::size_t>(1, size_arg(info[5]));
    bool workers = info.Length() < 7 || info[6].ToBoolean();
    flat_max_ = info.Length() > 7 ? size_arg(info[7]) : 0;
    expansion_add_ = expansion_add;

    metric_fn_ = metric_punned_t::builtin(dims_, metric_, scalar_);
    if (metric_fn_.missing() || !metric_fn_)
        throw Napi::Error::New(env, "usearch has no kernel for this metric and scalar");
    to_f32_ = casts_punned_t::make(scalar_).to.f32;
    bytes_per_vector_ = metric_fn_.bytes_per_vector();

    // An index made without worker contexts is for a new set, most of which stay small: it
    // starts flat. One made for batch work (loads, rebuilds) starts as a graph.
    if (workers || flat_max_ == 0)
        native_ = make_dense(0, workers ? 1 + worker_contexts_ : 1);
    else
        flat_ = std::make_unique<astronaut::FlatStore>(bytes_per_vector_);
    set_contexts(workers ? 1 + worker_contexts_ : 1);
    registry().push_back(this);
}

Napi::Object Index::Init(Napi::Env env, Napi::Object exports) {
    Napi::Function cls = DefineClass(env, "Index",
                                     {
                                         InstanceMethod("size", &Index::Size),
                                         InstanceMethod("capacity", &Index::Capacity),
                                         InstanceMethod("nodes", &Index::Nodes),
                                         InstanceMethod("isFlat", &Index::IsFlat),
                                         InstanceMethod("memoryStats", &Index::MemoryStats),
                                         InstanceMethod("maxLevel", &Index::MaxLevel),
                                         InstanceMethod("inFlight", &Index::InFlight),
                                         InstanceMethod("isa", &Index::Isa),
                                         InstanceMethod("reserve", &Index::Reserve),
                                         InstanceMethod("hasWorkers", &Index::HasWorkers),
                                         InstanceMethod("add", &Index::Add),
                                         InstanceMethod("addBatch", &Index::AddBatch),
                                         InstanceMethod("remove", &Index::Remove),
                                         InstanceMethod("contains", &Index::Contains),
                                         InstanceMethod("firstPresent", &Index::FirstPresent),
                                         InstanceMethod("get", &Index::Get),
                                         InstanceMethod("search", &Index::Search),
                                         InstanceMethod("searchBatch", &Index::SearchBatch),
                                         InstanceMethod("searchTeam", &Index::SearchTeamBatch),
                                         InstanceMethod("searchSubset", &Index::SearchSubset),
                                         InstanceMethod("searchSubsetAsync", &Index::SearchSubsetAsync),
                                         InstanceMethod("links", &Index::Links),
                                         InstanceMethod("promote", &Index::Promote),
                                         InstanceMethod("serialize", &Index::Serialize),
                                         InstanceMethod("serializeHeld", &Index::SerializeHeld),
                                         InstanceMethod("load", &Index::Load),
                                         InstanceMethod("loadFile", &Index::LoadFile),
                                         InstanceMethod("getBatch", &Index::GetBatch),
                                         InstanceMethod("free", &Index::Free),
                                     });
    exports.Set("Index", cls);
    return exports;
}

// ---------------------------------------------------------------------------------------------
// Module functions

/// crc32c(bytes, seed, software) -> number
Napi::Value Crc32c(Napi::CallbackInfo const& info) {
    auto bytes = u8_array(info[0], "bytes");
    auto seed = static_cast<std::uint32_t>(info[1].As<Napi::Number>().Uint32Value());
    bool software = info[2].ToBoolean();
    std::uint32_t c = software ? crc32c_software(seed, bytes.Data(), bytes.ElementLength())
                               : crc32c(seed, bytes.Data(), bytes.ElementLength());
    return Napi::Number::New(info.Env(), c);
}

Held* held_of(Napi::Value v) {
    if (!v.IsExternal())
        throw Napi::TypeError::New(v.Env(), "held: expected a handle from serializeHeld()");
    return v.As<Napi::External<Held>>().Data();
}

/// heldLength(handle) -> number of bytes (0 once freed)
Napi::Value HeldLength(Napi::CallbackInfo const& info) {
    return Napi::Number::New(info.Env(), double(held_of(info[0])->length));
}

/// heldRead(handle, position, into) -> bytes copied from `position` into `into` (0 at the end)
Napi::Value HeldRead(Napi::CallbackInfo const& info) {
    Held* h = held_of(info[0]);
    double position = info[1].As<Napi::Number>().DoubleValue();
    auto into = u8_array(info[2], "into");
    if (!h->data)
        throw Napi::Error::New(info.Env(), "heldRead: the bytes were freed");
    if (!(position >= 0) || position > double(h->length))
        throw Napi::RangeError::New(info.Env(), "heldRead: position out of range");
    std::size_t from = static_cast<std::size_t>(position);
    std::size_t n = std::min(into.ElementLength(), h->length - from);
    std::memcpy(into.Data(), h->data + from, n);
    return Napi::Number::New(info.Env(), double(n));
}

/// heldFree(handle): gives the bytes back now (large ones on a thread of their own).
Napi::Value HeldFree(Napi::CallbackInfo const& info) {
    held_of(info[0])->release();
    return info.Env().Undefined();
}

/// crc32cAsync(bytes, seed) -> Promise<number>
Napi::Value Crc32cAsync(Napi::CallbackInfo const& info) {
    Napi::Env env = info.Env();
    auto bytes = u8_array(info[0], "bytes");
    auto seed = static_cast<std::uint32_t>(info[1].As<Napi::Number>().Uint32Value());
    auto job = std::make_shared<Job>(env);
    job->hold(info[0]);
    auto out = std::make_shared<std::uint32_t>(0);
    std::uint8_t const* data = bytes.Data();
    std::size_t length = bytes.ElementLength();
    job->body = [=](std::size_t) { *out = crc32c(seed, data, length); };
    job->result = [out](Napi::Env env) { return Napi::Number::New(env, *out); };
    return Index::start(env, job, 1);
}

Napi::Value Capabilities(Napi::CallbackInfo const& info) {
    Napi::Env env = info.Env();
    Napi::Object out = Napi::Object::New(env);
    out.Set("simd", Napi::String::New(env, hardware_acceleration_available()));
    out.Set("crc32cHardware", Napi::Boolean::New(env, crc_hardware));
    out.Set("usearch", Napi::String::New(env, std::to_string(USEARCH_VERSION_MAJOR) + "." +
                                                  std::to_string(USEARCH_VERSION_MINOR) + "." +
                                                  std::to_string(USEARCH_VERSION_PATCH)));
    return out;
}

/// nativeMemory() -> { indexes, reservedBytes, usedBytes } over this thread's indexes not yet
/// freed: what a deleted set should stop counting in, whether or not the GC has run.
Napi::Value NativeMemory(Napi::CallbackInfo const& info) {
    Napi::Env env = info.Env();
    double reserved = 0, used = 0;
    auto const& live = Index::registry();
    for (Index const* index : live) {
        auto m = index->memory_stats();
        reserved += double(m.graph_allocated + m.vectors_allocated);
        used += double(m.graph_allocated - m.graph_wasted - m.graph_reserved) +
                double(m.vectors_allocated - m.vectors_wasted - m.vectors_reserved);
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("indexes", double(live.size()));
    out.Set("reservedBytes", reserved);
    out.Set("usedBytes", used);
    return out;
}

/// trimMemory() -> boolean (false: skipped, jobs were running): give freed heap pages back to the system. glibc keeps what a freed
/// index held in its arenas (one per thread that allocated), so RSS stayed at its peak after
/// DEL or FLUSHALL; malloc_trim releases free pages of every arena.
Napi::Value TrimMemory(Napi::CallbackInfo const& info) {
#if defined(__GLIBC__)
    // Only while no job of ours runs on the pool: trimming is documented thread-safe, but
    // there is no need to walk arenas that worker threads are busy allocating in.
    for (Index const* index : Index::registry())
        if (index->in_flight_)
            return Napi::Boolean::New(info.Env(), false);
    malloc_trim(0);
    return Napi::Boolean::New(info.Env(), true);
#else
    return Napi::Boolean::New(info.Env(), false);
#endif
}

/// reduceHeap(): ask V8 to give back what a busy period grew. Its young generation grows to
/// 32 MiB under a burst of commands and stays there (V8 shrinks it only in a GC made to reduce
/// memory, which its memory reducer schedules only when no JavaScript runs for seconds, and a
/// server's timers always run); a critical memory-pressure notification makes that GC now.
/// Costs one full GC of the JS heap: the caller does it when the server is quiet.
/// reduceHeap(critical): `critical` makes the GC now (two full collections back to back, ~10 ms
/// each with a 10 MB heap); otherwise V8 starts an incremental memory-reducing GC that marks
/// in small steps between tasks and shrinks the young generation when it finishes.
Napi::Value ReduceHeap(Napi::CallbackInfo const& info) {
    v8::Isolate* isolate = v8::Isolate::GetCurrent();
    bool critical = info.Length() > 0 && info[0].ToBoolean().Value();
    if (isolate)
        isolate->MemoryPressureNotification(critical ? v8::MemoryPressureLevel::kCritical
                                                     : v8::MemoryPressureLevel::kModerate);
    return info.Env().Undefined();
}

/// mallocFreeBytes() -> bytes malloc holds free (what malloc_trim could return, at most).
Napi::Value MallocFreeBytes(Napi::CallbackInfo const& info) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 m = mallinfo2();
    return Napi::Number::New(info.Env(), double(m.fordblks));
#else
    return Napi::Number::New(info.Env(), 0);
#endif
}

Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
#if defined(__GLIBC__)
    // glibc raises its mmap threshold each time a large block is freed (up to 32 MiB), after
    // which large buffers (growing id arenas, request buffers, index lookups) come from the heap
    // and leave holes it cannot give back. A fixed threshold keeps them in their own mappings,
    // returned to the system on free.
    if (std::getenv("ASTRONAUT_MALLOC_DEFAULTS") == nullptr) mallopt(M_MMAP_THRESHOLD, 256 * 1024);
#endif
    exports.Set("reduceHeap", Napi::Function::New(env, ReduceHeap));
    exports.Set("mallocFreeBytes", Napi::Function::New(env, MallocFreeBytes));
    exports.Set("trimMemory", Napi::Function::New(env, TrimMemory));
    exports.Set("nativeMemory", Napi::Function::New(env, NativeMemory));
    exports.Set("crc32c", Napi::Function::New(env, Crc32c));
    exports.Set("heldLength", Napi::Function::New(env, HeldLength));
    exports.Set("heldRead", Napi::Function::New(env, HeldRead));
    exports.Set("heldFree", Napi::Function::New(env, HeldFree));
    exports.Set("crc32cAsync", Napi::Function::New(env, Crc32cAsync));
    exports.Set("capabilities", Napi::Function::New(env, Capabilities));
    return Index::Init(env, exports);
}

} // namespace

NODE_API_MODULE(astronaut_usearch, InitModule)
