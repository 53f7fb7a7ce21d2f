// Where the addon keeps its keys: one arena per Node environment (the main thread and each
// worker), addressed by integer handles that JavaScript passes back in.
//
// Why handles, not one JavaScript object per key: every per-key object that carries native state
// needs a finalizer, and Node-API finalizers are slow to create (measured here: ~3 us for an
// External with a finalizer, ~48 us for the three functions with finalizers this addon used to
// make per key), while a key's whole native setup is ~100 ns. A handle is a number; the arena
// checks it on every call, so a stale, reused or made-up handle is refused instead of reaching
// freed or foreign memory:
//
//   handle = ((generation << kIndexBits) | index) XOR mask      (53 bits: exact as a JS number)
//
// `index` names a slot; a slot's generation is bumped each time its key is removed, so a handle
// outlives its key by no more than the remove() call: afterwards its generation no longer
// matches, whether or not the slot holds a new key. A slot whose generation would pass
// kMaxGeneration is retired rather than reused, so generations never wrap. `mask` is random per
// arena: a made-up number decodes to a random index and generation, and names a live key with a
// probability of about 2^-29 (and then it is that key, valid memory: harmless to the process,
// though a handle is not a capability against code already running in it).
//
// Memory comes in chunks of kSlotsPerChunk slots mapped straight from the OS (not from malloc,
// whose free lists would keep it), excluded from core dumps where the OS allows it, and given
// back when a chunk empties (one empty chunk is kept, so a key made and removed again and again
// at a chunk boundary does not map and unmap each time). New keys go to the lowest chunk with
// room, which keeps live keys packed at the bottom and lets the chunks above empty out.
#pragma once
#include <cstddef>
#include <cstdint>

#include "hmac_totp.h"

namespace totp {

// Secrets this long or shorter are stored inside the slot; longer ones in an allocation of their own.
inline constexpr std::size_t kInlineSecretBytes = 32;

// One key: its HMAC midstates, and its secret for toBase32()/toUri() (the library keeps no other
// copy of a key's secret in JavaScript).
struct StoredKey {
  KeyState state;
  uint8_t* secret_heap;  // the secret when longer than kInlineSecretBytes, else nullptr
  uint32_t secret_length;
  uint8_t secret_inline[kInlineSecretBytes];

  const uint8_t* secret() const { return secret_heap != nullptr ? secret_heap : secret_inline; }
};

using Handle = uint64_t;
inline constexpr Handle kNoHandle = ~Handle{0};  // outside the 53-bit range: never a handle

class KeyArena {
 public:
  static constexpr int kIndexBits = 24;
  static constexpr int kGenerationBits = 29;  // kIndexBits + kGenerationBits = 53
  static constexpr uint32_t kSlotsPerChunk = 256;
  static constexpr uint32_t kMaxChunks = (uint32_t{1} << kIndexBits) / kSlotsPerChunk;
  static constexpr uint32_t kMaxGeneration = (uint32_t{1} << kGenerationBits) - 1;

  // `mask` is reduced to 53 bits. `generation_limit` (at most kMaxGeneration) is lowered only by
  // the native tests, to reach slot retirement in a few steps.
  explicit KeyArena(uint64_t mask, uint32_t generation_limit = kMaxGeneration);
  ~KeyArena() { clear(); }
  KeyArena(const KeyArena&) = delete;
  KeyArena& operator=(const KeyArena&) = delete;

  // Stores a copy of `state` and of the secret (secret_len <= UINT32_MAX; the addon allows at most
  // kMaxSecretBytes). Returns the key's handle, or kNoHandle when memory or the index space ran
  // out: then nothing is kept, and wiping `state` is the caller's business as before.
  Handle add(const KeyState& state, const uint8_t* secret, std::size_t secret_len);

  // The live key `handle` names, or nullptr: removed, its slot reused, or never issued.
  StoredKey* find(Handle handle);

  // Wipes the key `handle` names and frees its slot. False, and nothing done, when `handle` names
  // no live key: removing twice, or after the slot was reused, is refused harmlessly.
  bool remove(Handle handle);

  // Wipes every key still stored and gives all memory back: for the environment's teardown, after
  // which no JavaScript runs (an arena used again would reissue old indexes from generation 0).
  void clear();

  std::size_t live_keys() const { return live_; }
  std::size_t mapped_chunks() const { return mapped_; }
  std::size_t mapped_bytes() const;

 private:
  struct Slot;
  struct Chunk {
    Slot* slots;           // nullptr while unmapped
    uint32_t live;         // keys stored in it
    uint32_t free_head;    // first free slot (kEnd: none)
    uint32_t next_floor;   // the generation every slot starts at when the chunk is mapped again
  };
  static constexpr uint32_t kEnd = ~uint32_t{0};

  Slot* locate(Handle handle, uint32_t* chunk_index);  // the live slot, or nullptr
  bool map_chunk(uint32_t c);
  void unmap_chunk(uint32_t c);
  bool grow_table();
  void set_room(uint32_t c, bool room);
  bool has_room(uint32_t c) const;
  uint32_t lowest_with_room() const;  // kEnd when every chunk is full or retired
  void released(uint32_t c);          // a chunk just emptied

  const uint64_t mask_;
  const uint32_t generation_limit_;
  Chunk* chunks_ = nullptr;
  uint64_t* room_ = nullptr;  // bit c: chunk c has a free slot, or is unmapped and reusable
  uint32_t chunk_count_ = 0;
  uint32_t chunk_capacity_ = 0;
  uint32_t spare_ = kEnd;  // the one empty chunk kept mapped
  std::size_t live_ = 0;
  std::size_t mapped_ = 0;
};

}  // namespace totp
