/**
 *  @file flat_store.hpp
 *  @brief The vectors of a small set, kept without a graph.
 *
 *  Why: a usearch index costs ~55 KB of resident memory before its first vector (per-thread
 *  search contexts, lock stripes, a first page of each tape), so a one-element set cost 60 KB.
 *  Below a few hundred elements an exact scan is as fast as a graph walk (bench/planner.ts), so
 *  such a set needs nothing but its vectors: slot numbers and vectors in two growing arrays.
 *  The index promotes itself to a usearch index when it outgrows that (usearch_addon.cpp).
 *
 *  Vectors are stored exactly as usearch would store them (already converted to the storage
 *  scalar by the addon), so distances and read-backs are bit-identical before and after a
 *  promotion.
 *
 *  Serialised form (native byte order, like usearch's own):
 *    8 bytes  "ASTFLAT1"
 *    u32      dimensions
 *    u32      connectivity (the M the promoted graph will use; checked like usearch's header)
 *    u8       metric (usearch's metric_kind_t code), u8 scalar (scalar_kind_t code), u16 zero
 *    u32      count
 *    u32      slots[count]
 *    bytes    vectors[count × bytes per vector]
 *  usearch's own format starts with a u32 row count and a u32 column count: "ASTF" read as a
 *  row count is over a billion rows, with "LAT1" as 826 MB per row, so the two cannot be mistaken.
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace astronaut {

constexpr char flat_magic[8] = {'A', 'S', 'T', 'F', 'L', 'A', 'T', '1'};
constexpr std::size_t flat_header_bytes = 24;

/// The fields a serialised flat store must agree on with the index loading it.
struct FlatShape {
    std::uint32_t dimensions;
    std::uint32_t connectivity;
    std::uint8_t metric;
    std::uint8_t scalar;
    std::size_t bytes_per_vector;
    /// A store is promoted to a graph past this many elements, so a longer one is not ours.
    std::size_t max_count;
};

inline bool is_flat_serialization(std::uint8_t const* data, std::size_t length) noexcept {
    return length >= sizeof(flat_magic) && std::memcmp(data, flat_magic, sizeof(flat_magic)) == 0;
}

class FlatStore {
    std::size_t bytes_;
    std::vector<std::uint32_t> slots_;
    std::vector<std::uint8_t> vectors_;

  public:
    explicit FlatStore(std::size_t bytes_per_vector) : bytes_(bytes_per_vector) {}

    std::size_t size() const noexcept { return slots_.size(); }
    std::uint32_t slot_at(std::size_t i) const noexcept { return slots_[i]; }
    std::uint8_t const* vector_at(std::size_t i) const noexcept { return vectors_.data() + i * bytes_; }

    /// Position of `slot`, or -1. A linear scan of at most a few hundred u32s costs about what a
    /// hash probe does, and no memory.
    std::ptrdiff_t find(std::uint32_t slot) const noexcept {
        for (std::size_t i = 0; i < slots_.size(); ++i)
            if (slots_[i] == slot)
                return static_cast<std::ptrdiff_t>(i);
        return -1;
    }

    /// Appends; the caller has checked that the slot is absent.
    void add(std::uint32_t slot, void const* vector) {
        auto const* bytes = static_cast<std::uint8_t const*>(vector);
        slots_.push_back(slot);
        vectors_.insert(vectors_.end(), bytes, bytes + bytes_);
    }

    /// Swap-removes; order carries no meaning here.
    bool remove(std::uint32_t slot) {
        std::ptrdiff_t i = find(slot);
        if (i < 0)
            return false;
        std::size_t last = slots_.size() - 1;
        if (static_cast<std::size_t>(i) != last) {
            slots_[i] = slots_[last];
            std::memcpy(vectors_.data() + i * bytes_, vectors_.data() + last * bytes_, bytes_);
        }
        slots_.pop_back();
        vectors_.resize(last * bytes_);
        return true;
    }

    std::size_t allocated_bytes() const noexcept { return slots_.capacity() * sizeof(std::uint32_t) + vectors_.capacity(); }
    std::size_t used_bytes() const noexcept { return slots_.size() * (sizeof(std::uint32_t) + bytes_); }

    std::size_t serialized_length() const noexcept { return flat_header_bytes + used_bytes(); }

    void serialize(FlatShape const& shape, std::uint8_t* out) const {
        std::uint32_t count = static_cast<std::uint32_t>(slots_.size());
        std::uint16_t zero = 0;
        std::memcpy(out, flat_magic, 8);
        std::memcpy(out + 8, &shape.dimensions, 4);
        std::memcpy(out + 12, &shape.connectivity, 4);
        out[16] = shape.metric;
        out[17] = shape.scalar;
        std::memcpy(out + 18, &zero, 2);
        std::memcpy(out + 20, &count, 4);
        if (count) {
            std::memcpy(out + flat_header_bytes, slots_.data(), count * sizeof(std::uint32_t));
            std::memcpy(out + flat_header_bytes + count * sizeof(std::uint32_t), vectors_.data(), count * bytes_);
        }
    }

    /// Reads `serialize`'s bytes, refusing a store made for another shape, a truncated or
    /// over-long buffer, or a slot listed twice.
    static std::unique_ptr<FlatStore> parse(std::uint8_t const* data, std::size_t length, FlatShape const& shape) {
        if (length < flat_header_bytes || !is_flat_serialization(data, length))
            throw std::runtime_error("not a flat vector store");
        std::uint32_t dimensions, connectivity, count;
        std::memcpy(&dimensions, data + 8, 4);
        std::memcpy(&connectivity, data + 12, 4);
        std::memcpy(&count, data + 20, 4);
        if (dimensions != shape.dimensions || connectivity != shape.connectivity || data[16] != shape.metric ||
            data[17] != shape.scalar)
            throw std::runtime_error("serialized index has other dimensions, metric, scalar or connectivity");
        if (count > shape.max_count)
            throw std::runtime_error("flat vector store holds " + std::to_string(count) + " vectors, more than " +
                                     std::to_string(shape.max_count));
        std::size_t expected = flat_header_bytes + std::size_t(count) * (sizeof(std::uint32_t) + shape.bytes_per_vector);
        if (length != expected)
            throw std::runtime_error("flat vector store is " + std::to_string(length) + " bytes, its header says " +
                                     std::to_string(expected));
        auto store = std::make_unique<FlatStore>(shape.bytes_per_vector);
        store->slots_.resize(count);
        std::memcpy(store->slots_.data(), data + flat_header_bytes, count * sizeof(std::uint32_t));
        for (std::size_t i = 1; i < count; ++i)
            if (store->find(store->slots_[i]) != static_cast<std::ptrdiff_t>(i))
                throw std::runtime_error("flat vector store lists slot " + std::to_string(store->slots_[i]) + " twice");
        store->vectors_.assign(data + flat_header_bytes + count * sizeof(std::uint32_t), data + length);
        return store;
    }
};

} // namespace astronaut
